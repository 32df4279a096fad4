//! A node's hot-key report on the wire (Redis pub/sub): JSON,
//! `{"v":1,"node":"dist-1","total":1234.5,"keys":[["42",310.2],["7",88.0]]}` — requests
//! per second over the node's window, for the group and for its heaviest keys.

use serde::{Deserialize, Serialize};

use super::view::Report;
use super::window::Rates;

/// Longest key accepted from another node.
const MAX_KEY: usize = 1024;

#[derive(Serialize, Deserialize)]
struct Wire {
    v: u8,
    node: String,
    total: f64,
    keys: Vec<(String, f64)>,
}

/// The JSON of `report`.
pub fn encode(report: &Report) -> String {
    let wire = Wire {
        v: 1,
        node: report.node.clone(),
        total: report.rates.total,
        keys: report.rates.keys.clone(),
    };
    serde_json::to_string(&wire).unwrap_or_default()
}

/// Why a message on the report channel was not taken.
#[derive(Debug, thiserror::Error)]
pub enum BadReport {
    /// Not JSON of a report.
    #[error("not a report: {0}")]
    Json(String),
    /// A version this node does not read.
    #[error("unknown report version {0}")]
    Version(u8),
    /// No valid node name.
    #[error("report without a valid node name")]
    Node,
    /// Rates that are not finite and non-negative, or keys over 1 KiB.
    #[error("report from {0} has invalid rates or keys")]
    Rates(String),
}

/// A report from another node, checked: version 1, a node name, finite non-negative rates,
/// keys of at most 1 KiB, at most `max_keys` of them (the rest is ignored).
pub fn decode(text: &str, max_keys: usize) -> Result<Report, BadReport> {
    let w: Wire = serde_json::from_str(text).map_err(|e| BadReport::Json(e.to_string()))?;
    if w.v != 1 {
        return Err(BadReport::Version(w.v));
    }
    if w.node.is_empty() || w.node.len() > MAX_KEY {
        return Err(BadReport::Node);
    }
    let ok = |r: f64| r.is_finite() && r >= 0.0;
    if !ok(w.total) || w.keys.iter().any(|(k, r)| !ok(*r) || k.len() > MAX_KEY) {
        return Err(BadReport::Rates(w.node));
    }
    let mut keys = w.keys;
    keys.truncate(max_keys);
    Ok(Report {
        node: w.node,
        rates: Rates {
            total: w.total,
            keys,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_refusals() {
        let r = Report {
            node: "dist-1".into(),
            rates: Rates {
                total: 100.5,
                keys: vec![("42".into(), 50.0), ("7".into(), 10.0)],
            },
        };
        let text = encode(&r);
        assert_eq!(
            text,
            r#"{"v":1,"node":"dist-1","total":100.5,"keys":[["42",50.0],["7",10.0]]}"#
        );
        assert_eq!(decode(&text, 10).unwrap(), r);
        assert_eq!(decode(&text, 1).unwrap().rates.keys.len(), 1);
        for bad in [
            "k:purge-message",
            r#"{"v":2,"node":"n","total":1,"keys":[]}"#,
            r#"{"v":1,"node":"","total":1,"keys":[]}"#,
            r#"{"v":1,"node":"n","total":-1,"keys":[]}"#,
            r#"{"v":1,"node":"n","total":1,"keys":[["a",-5]]}"#,
        ] {
            assert!(decode(bad, 10).is_err(), "{bad}");
        }
    }
}
