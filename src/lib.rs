//! edgeproxy: a programmable edge proxy built on Pingora.
//!
//! One binary plays both tiers of the classic OpenResty multi-level-cache architecture:
//! a distribution tier that routes by consistent hash to application nodes whose upstream
//! lists follow Consul KV, and an application tier whose request phases (rewrite, access,
//! content, header/body filter, log) are Rust plugins. See `docs/ARCHITECTURE.md`.
//!
//! Embedders build a [`plugin_api::Registry`], register their plugins, load a config with
//! [`assembly::load`] and hand the result to [`server::run`].

pub mod assembly;
pub mod cache;
pub mod cache_service;
pub mod cli;
pub mod config;
pub mod conn;
pub mod control;
pub mod discovery;
pub mod drain;
pub mod logging;
pub mod metrics;
pub mod plugin_api;
pub mod proxy;
pub mod request;
pub mod router;
pub mod server;
pub mod signals;
pub mod upstream;

pub use plugin_api::{
    BoxError, Flow, LogEntry, Plugin, PluginFactory, Registry, RequestCtx, Response, Shared,
};

// What a plugin's signatures and config need, re-exported so that a plugin crate depends on
// `edgeproxy` alone, at matching versions.
pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use http;
pub use pingora::http::{RequestHeader, ResponseHeader};
/// serde, for typed plugin configs: `#[derive(edgeproxy::serde::Deserialize)]` with
/// `#[serde(crate = "edgeproxy::serde")]`.
pub use serde;

/// Everything a plugin file usually imports: `use edgeproxy::prelude::*;`.
pub mod prelude {
    pub use crate::{
        async_trait, BoxError, Bytes, Flow, LogEntry, Plugin, PluginFactory, Registry, RequestCtx,
        RequestHeader, Response, ResponseHeader, Shared,
    };
}
