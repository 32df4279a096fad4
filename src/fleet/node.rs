//! A fleet node: which version it should run (the canary when it targets this node, else the
//! current one), fetching a version's files into the [`Store`], and the status it reports.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use once_cell::sync::Lazy;
use prometheus::{IntCounterVec, IntGauge};

use super::kv::{Entry, Kv, Op, TxnError};
use super::manifest::{keys, now_rfc3339, Manifest, NodeStatus, Refused};
use super::spec::FleetSpec;
use super::store::{Store, StoreError};
use crate::upstream::consul::ConsulError;

/// `edgeproxy_config_version`: the fleet version in force (0: the bootstrap file).
pub static VERSION: Lazy<IntGauge> = Lazy::new(|| {
    crate::metrics::gauge(
        "edgeproxy_config_version",
        "Fleet configuration version in force (Consul KV config source; 0 = the bootstrap file)",
    )
});

/// `edgeproxy_config_versions_total{result}`: fleet versions applied or refused.
pub static APPLIES: Lazy<IntCounterVec> = Lazy::new(|| {
    crate::metrics::counter_vec(
        "edgeproxy_config_versions_total",
        "Fleet configuration versions this node applied or refused",
        &["result"],
    )
});

static STATUS: ArcSwapOption<NodeStatus> = ArcSwapOption::const_empty();

/// This node's fleet status, when it is fleet-managed (`/status/config`).
pub fn status() -> Option<Arc<NodeStatus>> {
    STATUS.load_full()
}

/// Why a version could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Consul could not be read.
    #[error(transparent)]
    Consul(#[from] ConsulError),
    /// A file listed by the manifest is missing from KV.
    #[error("version {version}: file {path} ({sha}) is missing from Consul")]
    Missing {
        /// The version.
        version: u64,
        /// The file.
        path: String,
        /// Its digest.
        sha: String,
    },
    /// The version could not be written to disk.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A live key does not hold a manifest.
    #[error("{key}: not a version manifest: {reason}")]
    Manifest {
        /// The key.
        key: String,
        /// The decoder's message.
        reason: String,
    },
}

/// A node's view of its fleet.
#[derive(Debug, Clone)]
pub struct Node {
    /// Its source spec.
    pub spec: FleetSpec,
    /// KV client.
    pub kv: Kv,
    /// Applied versions on disk.
    pub store: Store,
}

impl Node {
    /// The node of `spec`.
    pub fn new(spec: FleetSpec) -> Result<Self, ConsulError> {
        Ok(Node {
            kv: Kv::new(&spec)?,
            store: Store::new(&spec.state_dir),
            spec,
        })
    }

    /// The version this node should run, from the `live/` keys: the canary if it targets
    /// this node (by name or tag), else the current one.
    pub fn wanted(&self, live: &[Entry]) -> Result<Option<Manifest>, FetchError> {
        let parse = |key: &str| -> Result<Option<Manifest>, FetchError> {
            let Some(e) = live.iter().find(|e| e.key == key) else {
                return Ok(None);
            };
            serde_json::from_slice(&e.value)
                .map(Some)
                .map_err(|err| FetchError::Manifest {
                    key: key.to_string(),
                    reason: err.to_string(),
                })
        };
        let current = parse(keys::CURRENT)?;
        let canary = parse(keys::CANARY)?.filter(|c| self.spec.targeted_by(&c.canary));
        Ok(canary.or(current))
    }

    /// Version `m`'s folder on disk, fetching its files from KV first if needed.
    pub async fn fetch(&self, m: &Manifest) -> Result<PathBuf, FetchError> {
        if self.store.has(m.version) {
            return Ok(self.store.version_dir(m.version));
        }
        let mut files = BTreeMap::new();
        for (path, sha) in &m.files {
            let Some(blob) = self.kv.get(&keys::blob(sha)).await? else {
                return Err(FetchError::Missing {
                    version: m.version,
                    path: path.clone(),
                    sha: sha.clone(),
                });
            };
            files.insert(path.clone(), blob.value);
        }
        Ok(self.store.write(m, &files)?)
    }

    /// Records and publishes this node's status: `applied` version `version`, or the
    /// refusal of `refused` while still on `version`.
    pub fn set_status(&self, version: u64, refused: Option<Refused>) -> NodeStatus {
        let previous = STATUS.load_full();
        let applied_at = match &previous {
            Some(p) if p.version == version => p.applied_at.clone(),
            _ => now_rfc3339(),
        };
        let (requests, errors_5xx) = crate::metrics::answered_and_5xx();
        let result = match refused.is_some() {
            true => "refused",
            false => "applied",
        };
        let s = NodeStatus {
            node: self.spec.node.clone(),
            tags: self.spec.tags.clone(),
            version,
            applied_at,
            result: result.to_string(),
            refused,
            requests,
            errors_5xx,
        };
        VERSION.set(version as i64);
        STATUS.store(Some(Arc::new(s.clone())));
        s
    }

    /// Writes `status` under `status/<node>`.
    pub async fn report(&self, status: &NodeStatus) -> Result<(), TxnError> {
        let value = serde_json::to_vec(status).unwrap_or_default();
        self.kv
            .txn(&[Op::Set(keys::status(&self.spec.node), value)])
            .await
    }
}
