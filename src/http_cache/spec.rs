//! Plain typed configuration of the HTTP response cache: `[caches.NAME.http]` (the cache's
//! response-caching settings) and a route's `cache = { use = "NAME", key = "…" }`.

use std::time::Duration;

use crate::request::template::Template;

/// The default cache key: scheme, host and the request target as received (nginx's
/// `proxy_cache_key` default is `$scheme$proxy_host$request_uri`).
pub const DEFAULT_KEY: &str = "$scheme$host$request_uri";

/// Response-caching settings of one `[caches.NAME]` (its `http` table).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpCacheSpec {
    /// Upper bound of this node's response L1, in bytes (headers + bodies + overhead).
    pub l1_capacity_bytes: u64,
    /// Responses larger than this stream through to the client without being stored.
    pub max_object_bytes: u64,
    /// Freshness given to a `200` that states none (no `max-age`, `s-maxage`, `Expires`)
    /// and has no `Last-Modified` for the heuristic; `None` does not store such responses
    /// (nginx `proxy_cache_valid 200 …`).
    pub default_ttl: Option<Duration>,
    /// Cap of the heuristic freshness (10 % of the time since `Last-Modified`, RFC 9111
    /// §4.2.2); zero turns the heuristic off.
    pub heuristic_max: Duration,
    /// `stale-while-revalidate` applied when the response does not say (RFC 5861).
    pub stale_while_revalidate: Duration,
    /// `stale-if-error` applied when the response does not say (RFC 5861).
    pub stale_if_error: Duration,
    /// How long requests wait for another request of this node filling the same object
    /// before they go to the origin themselves (Pingora's cache lock).
    pub lock_timeout: Duration,
    /// Send `Surrogate-Key: <cache key> <origin tags>` downstream instead of removing the
    /// tags: for an application tier behind a distribution tier whose first-hop store
    /// (docs/hot.md) must drop what a purge drops; that tier removes it before the client.
    pub forward_tags: bool,
}

impl Default for HttpCacheSpec {
    fn default() -> Self {
        HttpCacheSpec {
            l1_capacity_bytes: 256 << 20,
            max_object_bytes: 8 << 20,
            default_ttl: None,
            heuristic_max: Duration::from_secs(24 * 3600),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
            lock_timeout: Duration::from_secs(5),
            forward_tags: false,
        }
    }
}

/// A route's `cache = { use = "NAME", key = "…" }`.
#[derive(Debug, Clone)]
pub struct RouteCacheSpec {
    /// The `[caches.NAME]` whose storage the route uses.
    pub cache: String,
    /// The cache key template ([`DEFAULT_KEY`] unless given).
    pub key: Template,
}
