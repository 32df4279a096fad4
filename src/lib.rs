//! edgeproxy: a programmable edge proxy built on Pingora.
//!
//! One binary plays both tiers of the classic OpenResty multi-level-cache architecture:
//! a distribution tier that routes by consistent hash to application nodes whose upstream
//! lists follow Consul KV, and an application tier whose request phases (rewrite, access,
//! content, header/body filter, log) are Rust plugins. See `docs/ARCHITECTURE.md`.
//!
//! Embedders build a [`plugin::Registry`], register their plugins, load a config with
//! [`config::load`] and hand both to [`server::run`].

pub mod cache;
pub mod cache_service;
pub mod config;
pub mod discovery;
pub mod drain;
pub mod metrics;
pub mod plugin;
pub mod proxy;
pub mod server;
pub mod upstream;

pub use plugin::{
    BoxError, Flow, LogEntry, Plugin, PluginFactory, Registry, RequestCtx, Response, Shared,
};
