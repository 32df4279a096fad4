//! Prometheus metrics of the response cache, labelled by cache (`[caches.NAME]`) and
//! resolved once per cache.

use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use crate::metrics::{counter_vec, gauge_vec};

/// `edgeproxy_http_cache_responses_total{cache, status}`: responses of cached routes by
/// what the cache did (`hit`, `miss`, `stale`, `revalidated`, `expired`, `bypass`).
pub static RESPONSES: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_http_cache_responses_total",
        "Responses of cached routes by cache and cache status (hit, miss, stale, revalidated, expired, bypass)",
        &["cache", "status"],
    )
});

/// `edgeproxy_http_cache_stored_bytes{cache}`: bytes held by this node's response L1.
pub static STORED_BYTES: Lazy<IntGaugeVec> = Lazy::new(|| {
    gauge_vec(
        "edgeproxy_http_cache_stored_bytes",
        "Bytes held by this node's response L1, by cache (updated on every fill)",
        &["cache"],
    )
});

/// `edgeproxy_http_cache_lock_waits_total{cache, scope}`: requests that waited for another
/// request's fill of the same object (`node`: Pingora's cache lock; `cluster`: another
/// node's fill, through the Redis lock).
pub static LOCK_WAITS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_http_cache_lock_waits_total",
        "Requests that waited for another fill of the same object, by cache and scope (node, cluster)",
        &["cache", "scope"],
    )
});

/// `edgeproxy_http_cache_l2_hits_total{cache}`: objects found in Redis (filled by any node).
pub static L2_HITS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_http_cache_l2_hits_total",
        "Objects found in the shared Redis tier, by cache",
        &["cache"],
    )
});

/// The statuses counted in [`RESPONSES`], in [`HttpCacheMetrics::response`]'s order.
pub const STATUSES: [&str; 6] = ["hit", "miss", "stale", "revalidated", "expired", "bypass"];

/// The metrics of one cache. Cheap to clone; clones count into the same series.
#[derive(Clone, Debug)]
pub struct HttpCacheMetrics {
    responses: [IntCounter; 6],
    /// Bytes in L1.
    pub stored_bytes: IntGauge,
    /// Waits on this node's cache lock.
    pub node_lock_waits: IntCounter,
    /// Waits for another node's fill.
    pub cluster_lock_waits: IntCounter,
    /// Objects found in Redis.
    pub l2_hits: IntCounter,
}

impl HttpCacheMetrics {
    /// The metrics of cache `cache` (exported at zero from now on).
    pub fn new(cache: &str) -> Self {
        HttpCacheMetrics {
            responses: STATUSES.map(|s| RESPONSES.with_label_values(&[cache, s])),
            stored_bytes: STORED_BYTES.with_label_values(&[cache]),
            node_lock_waits: LOCK_WAITS.with_label_values(&[cache, "node"]),
            cluster_lock_waits: LOCK_WAITS.with_label_values(&[cache, "cluster"]),
            l2_hits: L2_HITS.with_label_values(&[cache]),
        }
    }

    /// Counts one response with status `status` (one of [`STATUSES`]; others are ignored).
    pub fn response(&self, status: &str) {
        if let Some(i) = STATUSES.iter().position(|s| *s == status) {
            self.responses[i].inc();
        }
    }
}
