//! The plugin kit: everything a plugin may use from the core, and nothing else.
//!
//! A plugin crate (the built-ins in `plugins/`, an embedder's own) imports `edgeproxy::kit`
//! only — `use edgeproxy::kit::*;` brings the plugin API and the handful of shared
//! services plugins are built from. The rest of the library is its implementation
//! (`#[doc(hidden)]`), free to change; `plugins/tests/kit_only.rs` fails the build's tests
//! when a plugin reaches past this module. Anchor: APISIX plugins see only
//! `apisix/core.lua`; Pingap's plugins depend on `pingap-core` alone.
//!
//! | group | items |
//! |---|---|
//! | the plugin API | [`Plugin`], [`Flow`], [`Response`], [`RequestCtx`], [`LogEntry`], [`PluginFactory`], [`Registry`], [`Shared`], [`BoxError`], [`RequestBody`], [`de_duration`] |
//! | life across reloads | [`Shared::carry`] (state handed to the next generation), [`Background`] (a task stopped with its owner) |
//! | types in plugin signatures | [`RequestHeader`], [`ResponseHeader`], [`Bytes`], [`http`], [`async_trait`], [`serde`] |
//! | the tiered cache | [`TieredCache`], [`Loader`], [`HttpOrigin`], [`CacheLevel`], [`Version`], purges |
//! | Redis | [`RedisClient`] (timeouts, breaker, single node or Cluster), [`RedisSpec`] |
//! | upstreams | [`UpstreamGroup`], [`Upstreams`], [`ConsulClient`], status snapshots |
//! | request variables | [`Template`] (the one engine: keys, log formats, locations), [`RequestView`], [`Extra`] (a plugin's own variables, e.g. the log's `$status`), [`Sink`] |
//! | request values | [`host_name`], [`same_after_folding`] (header names an upstream reads as one), [`Cidr`]/[`CidrTable`], [`parse_size`] |
//! | metrics | [`metrics`]: one registration style on the default registry |
//! | logs | [`reopen_generation`] (SIGUSR1 log reopening for plugins that write files) |

// The plugin API itself.
pub use crate::plugin_api::{
    de_duration, de_opt_duration, refusal_status, Background, BoxError, BuildError, Caches, Flow,
    LogEntry, NotAnErrorStatus, Plugin, PluginCarry, PluginFactory, Registry, RequestBody,
    RequestCtx, Response, Shared, UnknownUpstream, UpstreamRef, MAX_REQUEST_BODY_BYTES,
};

// What a plugin's signatures and config need, at the versions the core uses.
pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use http;
pub use pingora::http::{RequestHeader, ResponseHeader};
/// serde, for typed plugin configs: `#[derive(edgeproxy::kit::serde::Deserialize)]` with
/// `#[serde(crate = "edgeproxy::kit::serde")]` (or depend on serde at the same version).
pub use serde;

// The tiered cache (L1 → Redis → origin) and its purges.
pub use crate::cache::{
    CacheLevel, CacheSpec, Derived, HttpOrigin, HttpOriginLimits, LoadError, Loaded, Loader,
    PurgeError, PurgeReport, TagPurgeReport, TieredCache, Ttls, Version,
};

// Redis: the one client setup (timeouts, circuit breaker, single node or Cluster).
pub use crate::redis_client::{node_url, RedisClient, RedisFail, RedisMode, RedisSpec};

// Upstream groups, their key templates, status snapshots, and the Consul KV client.
pub use crate::upstream::consul::ConsulClient;
pub use crate::upstream::{
    BalanceSpec, ConsulSpec, FailureSnapshot, GroupSpec, HashSpec, LastError, PeerState,
    ServerSpec, UpstreamGroup, Upstreams, WatchSnapshot, WatchStatus,
};

// Reload in place: what `/status/config` reports.
pub use crate::generation::{config_status, ConfigStatus};

// Hot keys: what `/status/hot` reports.
pub use crate::hot::{GroupStatus, HotGroups};

// Request values and config helpers.
pub use crate::cidr::{Cidr, CidrError, Table as CidrTable};
pub use crate::config::parse_size;
pub use crate::logging::reopen_generation;
pub use crate::request::fields::same_after_folding;
pub use crate::request::host::{name as host_name, HostError};
pub use crate::request::template::{Extra, NoExtra, RequestView, Sink, Template, TemplateError};

/// Prometheus metrics, registered the way the core registers its own (default registry,
/// `Lazy` statics; the `metrics` plugin exports them).
pub mod metrics {
    pub use crate::metrics::{
        counter, counter_vec, gauge, gauge_vec, histogram_vec, inc, REQUESTS,
    };
}
