//! Metrics of the upstream groups: responses by status class and their time, failed
//! connections, missing hash keys.

use std::time::Duration;

use once_cell::sync::Lazy;
use prometheus::{Histogram, HistogramVec, IntCounter, IntCounterVec};

use super::{counter_vec, histogram_vec, ByStatusClass, DURATION_BUCKETS};

/// `edgeproxy_upstream_requests_total{group, status}`: upstream responses by status class.
pub static UPSTREAM_REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_upstream_requests_total",
        "Requests answered by an upstream group, by group and the upstream's status class",
        &["group", "status"],
    )
});

/// `edgeproxy_upstream_response_seconds{group}`: time from choosing the first peer to the
/// upstream's response header (retried connects included).
pub static UPSTREAM_RESPONSE: Lazy<HistogramVec> = Lazy::new(|| {
    histogram_vec(
        "edgeproxy_upstream_response_seconds",
        "Time from choosing an upstream peer to its response header, by upstream group",
        &["group"],
        &DURATION_BUCKETS,
    )
});

/// `edgeproxy_upstream_connect_failures_total{group}`: failed connection attempts.
pub static UPSTREAM_CONNECT_FAILURES: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_upstream_connect_failures_total",
        "Failed upstream connection attempts, by upstream group",
        &["group"],
    )
});

/// `edgeproxy_hash_key_missing_total{group, used}`: requests whose hash key was missing,
/// by what was used instead (`fallback` key or `round_robin`).
pub static HASH_KEY_MISSING: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_hash_key_missing_total",
        "Requests without a hash key, by upstream group and what was used instead",
        &["group", "used"],
    )
});

/// The metrics of one upstream group, resolved when the group is built.
pub struct UpstreamMetrics {
    responses: ByStatusClass,
    response_time: Histogram,
    connect_failures: IntCounter,
    /// `[fallback, round_robin]`, for groups that hash.
    key_missing: Option<[IntCounter; 2]>,
}

impl UpstreamMetrics {
    /// The metrics of group `group`; `hashed` when it balances by a hash key.
    pub fn new(group: &str, hashed: bool) -> Self {
        UpstreamMetrics {
            responses: ByStatusClass::new(&UPSTREAM_REQUESTS, &[group]),
            response_time: UPSTREAM_RESPONSE.with_label_values(&[group]),
            connect_failures: UPSTREAM_CONNECT_FAILURES.with_label_values(&[group]),
            key_missing: hashed.then(|| {
                ["fallback", "round_robin"].map(|u| HASH_KEY_MISSING.with_label_values(&[group, u]))
            }),
        }
    }

    /// Counts one upstream response with `status`, its header `took` after the first peer
    /// was chosen.
    pub fn response(&self, status: u16, took: Duration) {
        self.responses.inc(status);
        self.response_time.observe(took.as_secs_f64());
    }

    /// Counts one failed connection attempt.
    pub fn connect_failure(&self) {
        self.connect_failures.inc();
    }

    /// Counts a request without its hash key: `fallback` when the fallback key was used,
    /// else round robin.
    pub fn hash_key_missing(&self, fallback: bool) {
        if let Some(c) = &self.key_missing {
            c[usize::from(!fallback)].inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_failures_and_missing_keys_by_group() {
        let m = UpstreamMetrics::new("upstream-unit", true);
        m.response(200, Duration::from_millis(4));
        m.response(502, Duration::from_millis(40));
        m.connect_failure();
        m.hash_key_missing(true);
        m.hash_key_missing(false);
        m.hash_key_missing(false);
        let count = |c: &str| {
            UPSTREAM_REQUESTS
                .with_label_values(&["upstream-unit", c])
                .get()
        };
        assert_eq!((count("2xx"), count("5xx"), count("4xx")), (1, 1, 0));
        let timed = UPSTREAM_RESPONSE.with_label_values(&["upstream-unit"]);
        assert_eq!(timed.get_sample_count(), 2);
        let failed = UPSTREAM_CONNECT_FAILURES.with_label_values(&["upstream-unit"]);
        assert_eq!(failed.get(), 1);
        let missing = |u: &str| {
            HASH_KEY_MISSING
                .with_label_values(&["upstream-unit", u])
                .get()
        };
        assert_eq!((missing("fallback"), missing("round_robin")), (1, 2));
    }
}
