//! Hot-key metrics, resolved per group once.

use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use crate::metrics::{counter_vec, gauge_vec};

static KEYS: Lazy<IntGaugeVec> = Lazy::new(|| {
    gauge_vec(
        "edgeproxy_hot_keys",
        "Keys in the group's cluster-wide hot set",
        &["group"],
    )
});

static CHANGES: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_hot_changes_total",
        "Keys entering and leaving the hot set",
        &["group", "change"],
    )
});

static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_hot_requests_total",
        "Requests for hot keys by handling: spread (round robin over all members), \
         edge (answered from the first hop), hashed (hot, but the group does not spread)",
        &["group", "handling"],
    )
});

static REPORTS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_hot_reports_total",
        "Hot-key reports: published, publish_failed, received, invalid",
        &["group", "result"],
    )
});

static PREWARMS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_hot_prewarm_total",
        "Prewarm requests to group members by result (ok, failed)",
        &["group", "result"],
    )
});

/// One group's hot-key metrics.
pub struct HotMetrics {
    /// Keys in the hot set.
    pub keys: IntGauge,
    /// Keys that entered.
    pub entered: IntCounter,
    /// Keys that left.
    pub left: IntCounter,
    /// Hot-key requests spread over all members.
    pub spread: IntCounter,
    /// Hot-key requests answered from the first hop.
    pub edge: IntCounter,
    /// Hot-key requests sent to their hash node (`spread = false`, or on an edge miss).
    pub hashed: IntCounter,
    /// Reports published.
    pub published: IntCounter,
    /// Reports that could not be published.
    pub publish_failed: IntCounter,
    /// Reports received from other nodes.
    pub received: IntCounter,
    /// Messages on the channel that were not valid reports.
    pub invalid: IntCounter,
    /// Prewarm requests answered.
    pub prewarm_ok: IntCounter,
    /// Prewarm requests that failed.
    pub prewarm_failed: IntCounter,
}

impl HotMetrics {
    /// The metrics of group `group`.
    pub fn new(group: &str) -> Self {
        let changes = |c| CHANGES.with_label_values(&[group, c]);
        let requests = |h| REQUESTS.with_label_values(&[group, h]);
        let reports = |r| REPORTS.with_label_values(&[group, r]);
        let prewarms = |r| PREWARMS.with_label_values(&[group, r]);
        HotMetrics {
            keys: KEYS.with_label_values(&[group]),
            entered: changes("enter"),
            left: changes("leave"),
            spread: requests("spread"),
            edge: requests("edge"),
            hashed: requests("hashed"),
            published: reports("published"),
            publish_failed: reports("publish_failed"),
            received: reports("received"),
            invalid: reports("invalid"),
            prewarm_ok: prewarms("ok"),
            prewarm_failed: prewarms("failed"),
        }
    }
}
