//! Process-wide Prometheus metrics (registered on the default registry).

use once_cell::sync::Lazy;
use prometheus::{register_int_counter_vec, IntCounterVec};

/// Requests answered, by server block and status class (`2xx` … `5xx`, `0` = none sent).
pub static REQUESTS: Lazy<Option<IntCounterVec>> = Lazy::new(|| {
    register_int_counter_vec!(
        "edgeproxy_requests_total",
        "Requests answered, by server block and status class",
        &["server", "status"]
    )
    .ok()
});

/// Requests whose hash key was missing, by group and what was used instead
/// (`fallback` key or `round_robin`).
pub static HASH_KEY_MISSING: Lazy<Option<IntCounterVec>> = Lazy::new(|| {
    register_int_counter_vec!(
        "edgeproxy_hash_key_missing_total",
        "Requests without a hash key, by upstream group and what was used instead",
        &["group", "used"]
    )
    .ok()
});

/// Failed upstream connection attempts, by group.
pub static UPSTREAM_CONNECT_FAILURES: Lazy<Option<IntCounterVec>> = Lazy::new(|| {
    register_int_counter_vec!(
        "edgeproxy_upstream_connect_failures_total",
        "Failed upstream connection attempts, by upstream group",
        &["group"]
    )
    .ok()
});

/// Increments `counter{labels}` when the metric could be registered.
pub fn inc(counter: &Lazy<Option<IntCounterVec>>, labels: &[&str]) {
    if let Some(c) = counter.as_ref() {
        c.with_label_values(labels).inc();
    }
}

/// `2xx`-style class of a status (`0` when nothing was sent).
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "0",
    }
}
