//! Reading an edge's admin endpoints: one Prometheus series, or a JSON status document.

use std::net::SocketAddr;

/// The value of the series written exactly as `series` (name and labels, in the
/// exposition's label order) on `http://admin/metrics`; `None` if it is not there.
pub fn metric(admin: SocketAddr, series: &str) -> Option<f64> {
    let text = super::client()
        .get(format!("http://{admin}/metrics"))
        .send()
        .and_then(|r| r.text())
        .ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// GET `http://admin{path}` as JSON (`Null` when it cannot be had).
pub fn json(admin: SocketAddr, path: &str) -> serde_json::Value {
    super::client()
        .get(format!("http://{admin}{path}"))
        .send()
        .and_then(|r| r.json())
        .unwrap_or(serde_json::Value::Null)
}
