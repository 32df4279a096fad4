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

/// `REQUESTS` counters of one server block, resolved once per status class so the request
/// path does no label hashing.
pub struct ServerRequests {
    by_class: Option<[prometheus::IntCounter; 6]>,
}

const CLASSES: [&str; 6] = ["0", "1xx", "2xx", "3xx", "4xx", "5xx"];

impl ServerRequests {
    /// The counters of server block `server`.
    pub fn new(server: &str) -> Self {
        let by_class = REQUESTS
            .as_ref()
            .map(|c| CLASSES.map(|class| c.with_label_values(&[server, class])));
        ServerRequests { by_class }
    }

    /// Counts one answered request with `status`.
    pub fn inc(&self, status: u16) {
        if let Some(c) = &self.by_class {
            let i = match status {
                100..=599 => (status / 100) as usize,
                _ => 0,
            };
            c[i].inc();
        }
    }
}
