//! Prometheus metrics of the cache, registered like every metric (see [`crate::metrics`]),
//! labelled by cache (the `[caches.NAME]` name) and resolved once per engine.

use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use crate::metrics::{counter_vec, gauge_vec};

use super::CacheLevel;

/// `edgeproxy_cache_lookups_total{cache, level}`: lookups by the level that answered.
pub static LOOKUPS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_cache_lookups_total",
        "Cache lookups by cache and the level that answered (L1, L2, ORIGIN, STALE)",
        &["cache", "level"],
    )
});

/// `edgeproxy_cache_lookup_errors_total{cache}`: lookups that produced nothing (no value,
/// no stale copy).
pub static LOOKUP_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_cache_lookup_errors_total",
        "Cache lookups that failed with no value and no stale copy, by cache",
        &["cache"],
    )
});

/// `edgeproxy_cache_redis_errors_total{cache}`: failed or timed-out Redis calls.
pub static REDIS_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_cache_redis_errors_total",
        "Redis calls of the cache that failed or timed out, by cache",
        &["cache"],
    )
});

/// `edgeproxy_cache_breaker_open{cache}`: 1 while the cache's Redis circuit breaker is open.
pub static BREAKER_OPEN: Lazy<IntGaugeVec> = Lazy::new(|| {
    gauge_vec(
        "edgeproxy_cache_breaker_open",
        "1 while the cache's Redis circuit breaker is open (engines sharing a name add up)",
        &["cache"],
    )
});

/// The metrics of one engine, resolved when it is built (no label hashing per lookup).
/// Cheap to clone; clones count into the same series.
#[derive(Clone, Debug)]
pub struct CacheMetrics {
    /// Indexed by `CacheLevel as usize`.
    lookups: [IntCounter; 4],
    /// Lookups that produced nothing.
    pub lookup_errors: IntCounter,
    /// Failed or timed-out Redis calls.
    pub redis_errors: IntCounter,
    /// 1 while the breaker is open.
    pub breaker_open: IntGauge,
}

impl CacheMetrics {
    /// The metrics of cache `cache` (exported at zero from now on).
    pub fn new(cache: &str) -> Self {
        let levels = [
            CacheLevel::L1,
            CacheLevel::L2,
            CacheLevel::Origin,
            CacheLevel::Stale,
        ];
        CacheMetrics {
            lookups: levels.map(|l| LOOKUPS.with_label_values(&[cache, l.as_str()])),
            lookup_errors: LOOKUP_ERRORS.with_label_values(&[cache]),
            redis_errors: REDIS_ERRORS.with_label_values(&[cache]),
            breaker_open: BREAKER_OPEN.with_label_values(&[cache]),
        }
    }

    /// Counts one lookup answered at `level`.
    pub fn lookup(&self, level: CacheLevel) {
        // The engine never answers at `Edge` (the distribution tier's store does).
        if let Some(c) = self.lookups.get(level as usize) {
            c.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cache_counts_apart() {
        let (a, b) = (CacheMetrics::new("unit-a"), CacheMetrics::new("unit-b"));
        a.lookup(CacheLevel::L2);
        a.lookup(CacheLevel::Stale);
        b.lookup(CacheLevel::L2);
        b.lookup(CacheLevel::L2);
        a.redis_errors.inc();
        let get = |c: &str, l: &str| LOOKUPS.with_label_values(&[c, l]).get();
        assert_eq!((get("unit-a", "L2"), get("unit-a", "STALE")), (1, 1));
        assert_eq!((get("unit-b", "L2"), get("unit-b", "STALE")), (2, 0));
        let errors = |c: &str| REDIS_ERRORS.with_label_values(&[c]).get();
        assert_eq!((errors("unit-a"), errors("unit-b")), (1, 0));
    }
}
