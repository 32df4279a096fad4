//! The Pingora `ProxyHttp` implementation: a thin map from Pingora callbacks to phase chains.
