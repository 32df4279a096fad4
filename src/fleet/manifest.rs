//! What is stored in Consul KV under the fleet's prefix `P` (docs/fleet.md):
//!
//! - `P/blobs/<sha256>`: a file's bytes, content-addressed (written once, never changed);
//! - `P/history/<N>`: the [`Manifest`] of version N (written once);
//! - `P/live/current`: the manifest every node runs;
//! - `P/live/canary`: a manifest only the nodes it targets run, until promoted;
//! - `P/status/<node>`: each node's [`NodeStatus`].
//!
//! A push changes `live/*` in one transaction with check-and-set on the index it read.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The configuration document's name inside a version.
pub const MAIN: &str = "edgeproxy.toml";

/// One version of the fleet's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    /// Version number, one more than any before it.
    pub version: u64,
    /// Relative path → SHA-256 (hex) of the file's bytes; [`MAIN`] is the document.
    pub files: BTreeMap<String, String>,
    /// When it was pushed (RFC 3339, UTC).
    pub pushed_at: String,
    /// Who pushed it (`user@host`).
    pub pushed_by: String,
    /// The operator's note (`--note`), or what made it (`rollback to 3`).
    #[serde(default)]
    pub note: String,
    /// The version that was current when this one became current (what a rollback goes
    /// back to); `None` for the first.
    #[serde(default)]
    pub previous: Option<u64>,
    /// For a canary: the node names or tags it targets (empty once promoted).
    #[serde(default)]
    pub canary: Vec<String>,
}

/// What a node reports under `P/status/<node>`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct NodeStatus {
    /// The node's name.
    pub node: String,
    /// Its tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The version it runs (0: none from Consul yet — its bootstrap file).
    pub version: u64,
    /// When it applied it (RFC 3339, UTC).
    pub applied_at: String,
    /// `applied`, or `refused` when the last version it was given failed on it.
    pub result: String,
    /// The version that was refused, and why.
    #[serde(default)]
    pub refused: Option<Refused>,
    /// Requests this process answered so far (its `edgeproxy_requests_total`), refreshed
    /// every few seconds: what `config push --promote-after` judges a canary by.
    #[serde(default)]
    pub requests: u64,
    /// Of those, answered with a 5xx status.
    #[serde(default)]
    pub errors_5xx: u64,
}

/// A version a node could not apply.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Refused {
    /// The version.
    pub version: u64,
    /// The error (config errors as `FILE:LINE:COL: message`).
    pub error: String,
}

/// SHA-256 of `bytes`, lower-case hex.
pub fn digest(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Key names under the fleet prefix.
pub mod keys {
    /// The manifest every node runs.
    pub const CURRENT: &str = "live/current";
    /// The canary manifest.
    pub const CANARY: &str = "live/canary";
    /// The folder both live keys are in (what nodes watch).
    pub const LIVE: &str = "live/";
    /// The folder of node statuses.
    pub const STATUS: &str = "status/";

    /// `blobs/<sha>`.
    pub fn blob(sha: &str) -> String {
        format!("blobs/{sha}")
    }

    /// `history/<version>` (zero-padded so that keys sort by version).
    pub fn history(version: u64) -> String {
        format!("history/{version:012}")
    }

    /// `status/<node>`.
    pub fn status(node: &str) -> String {
        format!("status/{node}")
    }
}

/// Now, RFC 3339 in UTC with seconds (`2026-12-07T08:00:00Z`).
pub fn now_rfc3339() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_and_keys() {
        assert_eq!(
            digest(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(keys::history(12), "history/000000000012");
        let m = Manifest {
            version: 1,
            files: BTreeMap::from([(MAIN.to_string(), digest(b"x"))]),
            pushed_at: now_rfc3339(),
            pushed_by: "a@b".into(),
            note: String::new(),
            previous: None,
            canary: vec![],
        };
        let back: Manifest = serde_json::from_str(&serde_json::to_string(&m).unwrap()).unwrap();
        assert_eq!(back, m);
        assert!(now_rfc3339().ends_with('Z'));
    }
}
