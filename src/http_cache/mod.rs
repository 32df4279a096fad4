//! The HTTP response cache of proxied routes (RFC 9111), built on Pingora's HTTP cache
//! (`pingora-cache`: its state machine, cache lock, `Cache-Control` parser, 304 and Range
//! handling) with the project's storage tiers: L1 in this node's memory and, when the
//! `[caches.NAME]` has Redis, the shared L2 — an object filled by one node is a hit on
//! every other, one node fetches a cold object for the whole cluster, and purges (by key,
//! prefix or tag) reach every node over the cache's purge broadcast.
//!
//! ```text
//! route cache = { use = "main", key = "$scheme$host$request_uri" }
//!   request_cache_filter  GET/HEAD on a route with `cache` ─► enable (storage, lock)
//!   cache_key_callback    the key template ─► CacheKey
//!   lookup                Store: L1 ─► L2 (fill lock across nodes) ─► miss
//!   cache_hit_filter      the request's no-cache / max-age / min-fresh / max-stale
//!   response_cache_filter freshness::decide (RFC 9111 §3, §4.2)
//!   cache_vary_filter     request::variance (Vary)
//!   response_filter       Cache-Status, X-Cache, tags removed; unsafe methods invalidate
//! ```
//! The Pingora glue is `proxy::cache`; docs/cache.md maps what pingora-cache does, what
//! this adds, and nginx's `proxy_cache_*` directives.

mod fields;
mod freshness;
mod l1;
mod l2;
mod metrics;
mod object;
mod request;
mod spec;
mod status;
mod store;
mod surrogate;

pub use freshness::{decide, merge_304};
pub use metrics::HttpCacheMetrics;
pub use object::{tags, TAG_HEADERS};
pub use request::{hit_freshness, only_if_cached, variance};
pub use spec::{HttpCacheSpec, RouteCacheSpec, DEFAULT_KEY};
pub use status::Outcome;
pub use store::storage_key;
pub use surrogate::{CAPABILITY as SURROGATE_CAPABILITY, CONTROL as SURROGATE_CONTROL};

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use pingora::cache::lock::{CacheKeyLockImpl, CacheLock};
use pingora::cache::Storage;

use crate::cache::{PurgeListener, Purged, TagIndex, TieredCache};
use crate::request::template::Template;
use store::{Store, Tiers};

/// One `[caches.NAME]`'s response cache: its tiers, its cache lock, its settings.
pub struct ResponseCache {
    name: Arc<str>,
    spec: HttpCacheSpec,
    engine: TieredCache,
    tiers: Arc<Tiers>,
    store: &'static Store,
    lock: &'static CacheKeyLockImpl,
}

impl Drop for ResponseCache {
    fn drop(&mut self) {
        self.store.retire();
    }
}

impl std::fmt::Debug for ResponseCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseCache")
            .field("name", &self.name)
            .field("spec", &self.spec)
            .finish()
    }
}

impl ResponseCache {
    /// The response cache of `engine` (the `[caches.NAME]` engine: its Redis and purge
    /// broadcast) with `spec`. Opens no socket. Pingora needs `&'static` storage and lock:
    /// each build leaks a small shell and an idle lock table (a reload that keeps the
    /// cache's config keeps the cache, see `crate::generation`).
    pub fn new(engine: TieredCache, spec: HttpCacheSpec) -> Arc<Self> {
        let name: Arc<str> = Arc::from(engine.name());
        let metrics = HttpCacheMetrics::new(&name);
        let l2 = engine.redis_tier().map(l2::L2::new);
        let tiers = Arc::new(Tiers::new(
            l1::L1::new(spec.l1_capacity_bytes),
            l2,
            usize::try_from(spec.max_object_bytes).unwrap_or(usize::MAX),
            metrics,
        ));
        let lock: &'static CacheLock = Box::leak(CacheLock::new_boxed(spec.lock_timeout));
        let cache = Arc::new(ResponseCache {
            store: Store::leak(tiers.clone()),
            lock,
            name,
            spec,
            engine: engine.clone(),
            tiers,
        });
        let hearer = Arc::new(Hearer(Arc::downgrade(&cache.tiers)));
        engine.add_purge_listener(hearer.clone());
        engine.add_tag_index(hearer);
        cache
    }

    /// The `[caches.NAME]` name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The settings.
    pub fn spec(&self) -> &HttpCacheSpec {
        &self.spec
    }

    /// The storage to hand to `session.cache.enable`.
    pub fn storage(&self) -> &'static (dyn Storage + Sync) {
        self.store
    }

    /// This node's cache lock (one fill per object on this node).
    pub fn cache_lock(&self) -> &'static CacheKeyLockImpl {
        self.lock
    }

    /// The metrics.
    pub fn metrics(&self) -> &HttpCacheMetrics {
        &self.tiers.metrics
    }

    /// Releases the cross-node fill lock of `storage_key` if this node still holds it (the
    /// response turned out not to be stored).
    pub fn release_fill_lock(&self, storage_key: &str) {
        self.tiers.release_lock(storage_key);
    }

    /// Drops `key` on every node (RFC 9111 §4.4: after an unsafe method); returns once this
    /// node's tiers and Redis no longer hold it and the other nodes were told (bounded by
    /// the cache's `purge_timeout`).
    pub async fn invalidate(&self, key: &str) {
        let report = self.engine.purge(key).await;
        let failed = report.errors().next().map(|e| e.to_string());
        if let Some(e) = failed {
            tracing::warn!(cache = %self.name, key, "http cache: invalidation incomplete: {e}");
        }
    }

    /// Bytes held by this node's L1 (tests and diagnostics).
    pub fn l1_bytes(&self) -> u64 {
        self.tiers.l1.weighted_size()
    }
}

/// A route's response caching: its cache and key template.
#[derive(Debug, Clone)]
pub struct RouteCache {
    /// The cache.
    pub cache: Arc<ResponseCache>,
    /// The key template.
    pub key: Template,
}

/// Hears the engine's purges (own and broadcast) for the response tiers, and finds the
/// keys of a tag for the engine's purge by tag. Holds the tiers weakly: a retired cache is
/// not kept alive by the engine's listener list.
struct Hearer(Weak<Tiers>);

impl PurgeListener for Hearer {
    fn purged(&self, what: Purged<'_>) {
        let Some(t) = self.0.upgrade() else {
            return;
        };
        match what {
            Purged::Key(k) => {
                t.l1.remove(k);
                t.l1.remove_prefix(&format!("{k}#vary="));
            }
            Purged::Prefix(p) => t.l1.remove_prefix(p),
            Purged::All => t.l1.demote_all(),
        }
    }
}

#[async_trait]
impl TagIndex for Hearer {
    async fn tagged(&self, tag: &str) -> Result<Vec<String>, String> {
        let Some(t) = self.0.upgrade() else {
            return Ok(Vec::new());
        };
        let mut keys = t.l1.remove_tagged(tag);
        if let Some(l2) = &t.l2 {
            keys.extend(l2.take_tagged(tag).await?);
        }
        keys.sort();
        keys.dedup();
        Ok(keys)
    }
}
