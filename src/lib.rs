//! edgeproxy: a programmable edge proxy built on Pingora.
//!
//! One binary plays both tiers of the classic OpenResty multi-level-cache architecture:
//! a distribution tier that routes by consistent hash to application nodes whose upstream
//! lists follow Consul KV, and an application tier whose request phases (rewrite, access,
//! content, header/body filter, log) are Rust plugins. See `docs/ARCHITECTURE.md`.
//!
//! Plugins are written against [`kit`], the one curated surface (the plugin API and the
//! shared services plugins are built from). Embedders run [`cli::main`] with their own
//! registration function, or build a [`kit::Registry`], load a config with
//! [`assembly::load`] and hand the result to [`server::run`]. Every other module is the
//! implementation: public for the integration tests and benchmarks, hidden from the docs,
//! and free to change.

pub mod assembly;
#[doc(hidden)]
pub mod boxed;
#[doc(hidden)]
pub mod cache;
#[doc(hidden)]
pub mod cidr;
pub mod cli;
#[doc(hidden)]
pub mod compress;
#[doc(hidden)]
pub mod config;
#[doc(hidden)]
pub mod conn;
#[doc(hidden)]
pub mod control;
#[doc(hidden)]
pub mod control_client;
#[doc(hidden)]
pub mod drain;
#[doc(hidden)]
pub mod fleet;
#[doc(hidden)]
pub mod generation;
#[doc(hidden)]
pub mod grpc;
#[doc(hidden)]
pub mod hot;
#[doc(hidden)]
pub mod http_cache;
pub mod kit;
#[doc(hidden)]
pub mod logging;
#[doc(hidden)]
pub mod metrics;
#[doc(hidden)]
pub mod plugin_api;
#[doc(hidden)]
pub mod proxy;
#[doc(hidden)]
pub mod realip;
#[doc(hidden)]
pub mod redis_client;
#[doc(hidden)]
pub mod request;
#[doc(hidden)]
pub mod resident;
#[doc(hidden)]
pub mod router;
pub mod server;
#[doc(hidden)]
pub mod signals;
#[doc(hidden)]
pub mod stream;
#[doc(hidden)]
pub mod tls;
#[doc(hidden)]
pub mod upstream;
