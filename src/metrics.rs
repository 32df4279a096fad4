//! Process-wide Prometheus metrics, all registered the same way: a `Lazy` static built by
//! [`counter_vec`], [`counter`] or [`gauge`], which register on the default registry (what
//! the `metrics` plugin exports). Hot paths resolve label values once (see
//! [`ServerRequests`]) instead of hashing labels per request.

use once_cell::sync::Lazy;
use prometheus::core::Collector;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts};

/// Registers `metric` on the default registry and returns it. A failed registration (a
/// name registered twice) is logged; the metric still counts, it is just not exported.
fn register<C: Collector + Clone + 'static>(metric: C) -> C {
    if let Err(e) = prometheus::default_registry().register(Box::new(metric.clone())) {
        tracing::warn!(error = %e, "metric not registered");
    }
    metric
}

/// A registered counter family. `name`, `help` and `labels` are static definitions.
pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels);
    register(c.expect("valid metric definition")) // ok: static definitions, unit-tested
}

/// A registered counter. `name` and `help` are static definitions.
pub fn counter(name: &str, help: &str) -> IntCounter {
    register(IntCounter::new(name, help).expect("valid metric definition")) // ok: static
}

/// A registered gauge. `name` and `help` are static definitions.
pub fn gauge(name: &str, help: &str) -> IntGauge {
    register(IntGauge::new(name, help).expect("valid metric definition")) // ok: static
}

/// A registered gauge family. `name`, `help` and `labels` are static definitions.
pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    let g = IntGaugeVec::new(Opts::new(name, help), labels);
    register(g.expect("valid metric definition")) // ok: static definitions, unit-tested
}

/// Requests answered, by server block and status class (`2xx` … `5xx`, `0` = none sent).
pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_requests_total",
        "Requests answered, by server block and status class",
        &["server", "status"],
    )
});

/// Requests whose hash key was missing, by group and what was used instead
/// (`fallback` key or `round_robin`).
pub static HASH_KEY_MISSING: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_hash_key_missing_total",
        "Requests without a hash key, by upstream group and what was used instead",
        &["group", "used"],
    )
});

/// Failed upstream connection attempts, by group.
pub static UPSTREAM_CONNECT_FAILURES: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_upstream_connect_failures_total",
        "Failed upstream connection attempts, by upstream group",
        &["group"],
    )
});

/// Open client connections, by server block.
pub static CONNECTIONS: Lazy<IntGaugeVec> = Lazy::new(|| {
    gauge_vec(
        "edgeproxy_connections",
        "Open client connections, by server block",
        &["server"],
    )
});

/// Connections refused (503, closed) because the server block had `max_connections` open.
pub static CONNECTIONS_REFUSED: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_connections_refused_total",
        "Connections refused at max_connections, by server block",
        &["server"],
    )
});

/// Connections closed because a request header took longer than `client_header_timeout`.
pub static HEADER_TIMEOUTS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_client_header_timeouts_total",
        "Connections closed at client_header_timeout, by server block",
        &["server"],
    )
});

/// Increments `counter{labels}`.
pub fn inc(counter: &IntCounterVec, labels: &[&str]) {
    counter.with_label_values(labels).inc();
}

/// `REQUESTS` counters of one server block, resolved once per status class so the request
/// path does no label hashing.
pub struct ServerRequests {
    by_class: [IntCounter; 6],
}

const CLASSES: [&str; 6] = ["0", "1xx", "2xx", "3xx", "4xx", "5xx"];

impl ServerRequests {
    /// The counters of server block `server`.
    pub fn new(server: &str) -> Self {
        ServerRequests {
            by_class: CLASSES.map(|class| REQUESTS.with_label_values(&[server, class])),
        }
    }

    /// Counts one answered request with `status`.
    pub fn inc(&self, status: u16) {
        let i = match status {
            100..=599 => (status / 100) as usize,
            _ => 0,
        };
        self.by_class[i].inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_is_valid_and_counts() {
        let r = ServerRequests::new("metrics-unit");
        r.inc(204);
        r.inc(0);
        r.inc(999);
        let get = |class: &str| REQUESTS.with_label_values(&["metrics-unit", class]).get();
        assert_eq!((get("2xx"), get("0")), (1, 2));
        inc(&HASH_KEY_MISSING, &["metrics-unit", "fallback"]);
        inc(&UPSTREAM_CONNECT_FAILURES, &["metrics-unit"]);
        inc(&CONNECTIONS_REFUSED, &["metrics-unit"]);
        inc(&HEADER_TIMEOUTS, &["metrics-unit"]);
        CONNECTIONS.with_label_values(&["metrics-unit"]).inc();
        assert_eq!(
            HASH_KEY_MISSING
                .with_label_values(&["metrics-unit", "fallback"])
                .get(),
            1
        );
    }
}
