//! Prometheus metrics of the cache, registered like every metric (see [`crate::metrics`]).

use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec, IntGauge};

use crate::metrics::{counter, counter_vec, gauge};

use super::CacheLevel;

/// `edgeproxy_cache_lookups_total{level}`: lookups by the level that answered.
pub static LOOKUPS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_cache_lookups_total",
        "Cache lookups by the level that answered (L1, L2, ORIGIN, STALE)",
        &["level"],
    )
});

/// `edgeproxy_cache_lookup_errors_total`: lookups that produced nothing (no value, no stale).
pub static LOOKUP_ERRORS: Lazy<IntCounter> = Lazy::new(|| {
    counter(
        "edgeproxy_cache_lookup_errors_total",
        "Cache lookups that failed with no value and no stale copy",
    )
});

/// `edgeproxy_cache_redis_errors_total`: failed or timed-out Redis calls.
pub static REDIS_ERRORS: Lazy<IntCounter> = Lazy::new(|| {
    counter(
        "edgeproxy_cache_redis_errors_total",
        "Redis calls of the cache that failed or timed out",
    )
});

/// `edgeproxy_cache_breaker_open`: engines whose Redis circuit breaker is open now.
pub static BREAKER_OPEN: Lazy<IntGauge> = Lazy::new(|| {
    gauge(
        "edgeproxy_cache_breaker_open",
        "Cache engines whose Redis circuit breaker is open (1 per open engine)",
    )
});

/// Counts one lookup answered at `level`.
pub fn lookup(level: CacheLevel) {
    LOOKUPS_BY_LEVEL[level as usize].inc();
}

/// `LOOKUPS` resolved once per level (indexed by `CacheLevel as usize`): no label hashing
/// on the request path.
static LOOKUPS_BY_LEVEL: Lazy<[prometheus::IntCounter; 4]> = Lazy::new(|| {
    [
        CacheLevel::L1,
        CacheLevel::L2,
        CacheLevel::Origin,
        CacheLevel::Stale,
    ]
    .map(|l| LOOKUPS.with_label_values(&[l.as_str()]))
});

/// Registers every cache metric (so they are exported, at zero, before first use).
pub fn init() {
    Lazy::force(&LOOKUPS);
    Lazy::force(&LOOKUP_ERRORS);
    Lazy::force(&REDIS_ERRORS);
    Lazy::force(&BREAKER_OPEN);
}
