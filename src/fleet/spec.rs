//! Where a node takes its configuration from when it is fleet-managed
//! (`[server] config_source = { consul = { … } }` in the node's own bootstrap file).

use std::path::PathBuf;

use crate::upstream::ConsulSpec;

/// A configuration source in Consul KV.
#[derive(Debug, Clone)]
pub struct FleetSpec {
    /// Address, prefix (the fleet's folder), ACL token, blocking wait, error backoff cap and
    /// `strong_dependency` (refuse to start when neither Consul nor a version on disk can
    /// be read), as for upstream groups.
    pub consul: ConsulSpec,
    /// Consul datacenter (`?dc=`); the agent's own when `None`.
    pub dc: Option<String>,
    /// Where applied versions are kept (`versions/N/`, `current` → the last applied one).
    pub state_dir: PathBuf,
    /// This node's tags: a canary version targets nodes by name or tag.
    pub tags: Vec<String>,
    /// This node's name (the bootstrap file's `[server] node_name`): its status key, and the
    /// name every version runs under.
    pub node: String,
}

impl FleetSpec {
    /// The fleet's folder without a trailing slash (`edgeproxy/fleet`).
    pub fn prefix(&self) -> &str {
        self.consul.prefix.trim_end_matches('/')
    }

    /// Whether a canary aimed at `targets` (names or tags) includes this node.
    pub fn targeted_by(&self, targets: &[String]) -> bool {
        targets
            .iter()
            .any(|t| *t == self.node || self.tags.iter().any(|g| g == t))
    }
}
