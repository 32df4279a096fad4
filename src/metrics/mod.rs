//! Process-wide Prometheus metrics, all registered the same way: a `Lazy` static built by
//! [`counter_vec`], [`counter`], [`gauge`], [`gauge_vec`] or [`histogram_vec`], which
//! register on the default registry (what the `metrics` plugin exports). Hot paths resolve
//! label values once, when the server block, route, upstream group or cache is built (see
//! [`RouteMetrics`], [`UpstreamMetrics`]), instead of hashing labels per request.

mod grpc;
mod requests;
mod upstream;

pub use grpc::{GrpcCounters, GRPC_RESPONSES};
pub use requests::{
    answered_and_5xx, RouteMetrics, ServerMetrics, NO_ROUTE, REQUESTS, REQUESTS_ABORTED,
    REQUEST_DURATION,
};
pub use upstream::{
    UpstreamMetrics, HASH_KEY_MISSING, UPSTREAM_CONNECT_FAILURES, UPSTREAM_REQUESTS,
    UPSTREAM_RESPONSE,
};

use std::sync::OnceLock;

use once_cell::sync::Lazy;
use prometheus::core::Collector;
use prometheus::{
    HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
};

/// Histogram buckets of request and upstream times, in seconds: 1 ms to 10 s, the usual
/// Prometheus / nginx-exporter spread.
pub const DURATION_BUCKETS: [f64; 13] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

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

/// A registered histogram family with `buckets` (upper bounds, in seconds). `name`,
/// `help`, `labels` and `buckets` are static definitions.
pub fn histogram_vec(name: &str, help: &str, labels: &[&str], buckets: &[f64]) -> HistogramVec {
    let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
    let h = HistogramVec::new(opts, labels);
    register(h.expect("valid metric definition")) // ok: static definitions, unit-tested
}

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

/// Requests answered below pingora-proxy (`crate::proxy::direct`), by server block.
pub static DIRECT_ANSWERS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_direct_answers_total",
        "Requests of local routes answered below pingora-proxy, by server block",
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

/// The status class label of `status`: `1xx` … `5xx`, `xxx` outside 100–599.
pub fn status_class(status: u16) -> &'static str {
    match status {
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        500..=599 => "5xx",
        _ => "xxx",
    }
}

/// The counters of one label set of a family whose last label is `status`, resolved once
/// per class: `1xx` … `5xx` up front (exported at zero), `xxx` (a status outside
/// 100–599, which HTTP does not define) on first use.
pub struct ByStatusClass {
    family: &'static Lazy<IntCounterVec>,
    labels: Box<[String]>,
    classes: [IntCounter; 5],
    other: OnceLock<IntCounter>,
}

impl ByStatusClass {
    /// The counters of `family{labels…, status}`.
    pub fn new(family: &'static Lazy<IntCounterVec>, labels: &[&str]) -> Self {
        let class = |c: &str| {
            let mut all = labels.to_vec();
            all.push(c);
            family.with_label_values(&all)
        };
        ByStatusClass {
            family,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            classes: ["1xx", "2xx", "3xx", "4xx", "5xx"].map(class),
            other: OnceLock::new(),
        }
    }

    /// Counts one response with `status`.
    pub fn inc(&self, status: u16) {
        match status {
            100..=599 => self.classes[usize::from(status / 100 - 1)].inc(),
            _ => self
                .other
                .get_or_init(|| {
                    let mut all: Vec<&str> = self.labels.iter().map(String::as_str).collect();
                    all.push("xxx");
                    self.family.with_label_values(&all)
                })
                .inc(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_definition_is_valid_and_counts() {
        inc(&CONNECTIONS_REFUSED, &["metrics-unit"]);
        inc(&HEADER_TIMEOUTS, &["metrics-unit"]);
        CONNECTIONS.with_label_values(&["metrics-unit"]).inc();
        assert_eq!(
            CONNECTIONS_REFUSED
                .with_label_values(&["metrics-unit"])
                .get(),
            1
        );
        let h = histogram_vec("edgeproxy_unit_seconds", "unit", &["x"], &DURATION_BUCKETS);
        h.with_label_values(&["a"]).observe(0.002);
        assert_eq!(h.with_label_values(&["a"]).get_sample_count(), 1);
    }

    #[test]
    fn status_classes_are_resolved_once_and_xxx_only_when_seen() {
        static FAMILY: Lazy<IntCounterVec> =
            Lazy::new(|| counter_vec("edgeproxy_unit_total", "unit", &["a", "status"]));
        let c = ByStatusClass::new(&FAMILY, &["one"]);
        for s in [100, 204, 299, 301, 404, 500, 599] {
            c.inc(s);
        }
        let get = |class: &str| FAMILY.with_label_values(&["one", class]).get();
        let counts: Vec<u64> = ["1xx", "2xx", "3xx", "4xx", "5xx"].map(get).to_vec();
        assert_eq!(counts, [1, 2, 1, 1, 2]);
        let exported = |class: &str| {
            FAMILY.collect()[0]
                .get_metric()
                .iter()
                .any(|m| m.get_label().iter().any(|l| l.value() == class))
        };
        assert!(!exported("xxx"), "no xxx series before an odd status");
        c.inc(999);
        assert_eq!(get("xxx"), 1);
        assert_eq!(status_class(0), "xxx");
        assert_eq!(status_class(503), "5xx");
    }
}
