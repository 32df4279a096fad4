//! Building and running the Pingora server from a validated config.
