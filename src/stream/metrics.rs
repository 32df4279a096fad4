//! Stream metrics per `[[streams]]` block: connections by outcome, bytes each way, open
//! connections.

use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

use crate::metrics::{counter_vec, gauge_vec};

/// `edgeproxy_stream_connections_total{stream, outcome}`.
static CONNECTIONS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_stream_connections_total",
        "Stream connections by block and outcome (proxied, no_upstream, refused, preread)",
        &["stream", "outcome"],
    )
});

/// `edgeproxy_stream_bytes_total{stream, direction}`.
static BYTES: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_stream_bytes_total",
        "Bytes proxied by stream blocks: sent (client to upstream) and received",
        &["stream", "direction"],
    )
});

/// `edgeproxy_stream_connections_open{stream}`.
static OPEN: Lazy<IntGaugeVec> = Lazy::new(|| {
    gauge_vec(
        "edgeproxy_stream_connections_open",
        "Open client connections of stream blocks",
        &["stream"],
    )
});

/// One block's metric handles.
pub struct StreamMetrics {
    /// Connections proxied (an upstream was connected).
    pub proxied: IntCounter,
    /// Connections closed because no member could be connected.
    pub no_upstream: IntCounter,
    /// Connections refused beyond `max_connections`.
    pub refused: IntCounter,
    /// Connections whose ClientHello could not be read.
    pub preread: IntCounter,
    /// Bytes from clients to upstreams.
    pub sent: IntCounter,
    /// Bytes from upstreams to clients.
    pub received: IntCounter,
    /// Open client connections.
    pub open: IntGauge,
}

impl StreamMetrics {
    /// The handles of block `stream`.
    pub fn new(stream: &str) -> Self {
        let outcome = |o: &str| CONNECTIONS.with_label_values(&[stream, o]);
        StreamMetrics {
            proxied: outcome("proxied"),
            no_upstream: outcome("no_upstream"),
            refused: outcome("refused"),
            preread: outcome("preread"),
            sent: BYTES.with_label_values(&[stream, "sent"]),
            received: BYTES.with_label_values(&[stream, "received"]),
            open: OPEN.with_label_values(&[stream]),
        }
    }
}
