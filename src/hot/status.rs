//! What `/status/hot` shows of one group (serializable snapshots).

use serde::Serialize;

/// One group's hot-key state.
#[derive(Debug, Serialize)]
pub struct GroupStatus {
    /// This node's name (reports are published under it).
    pub node: String,
    /// Hot keys go to every member round robin.
    pub spread: bool,
    /// Members are prewarmed when a key turns hot.
    pub prewarm: bool,
    /// The thresholds in force.
    pub thresholds: Thresholds,
    /// The group's cluster-wide requests per second (all nodes' latest reports).
    pub cluster_rate: f64,
    /// Nodes whose reports count now (this one included while it has traffic).
    pub nodes_reporting: usize,
    /// The hot set, hottest first.
    pub hot: Vec<KeyStatus>,
    /// This node's heaviest keys over its window, whether hot or not.
    pub local_top: Vec<(String, f64)>,
    /// First-hop serving; `null` when off.
    pub edge: Option<FirstHopStatus>,
}

/// The thresholds of a group.
#[derive(Debug, Serialize)]
pub struct Thresholds {
    /// Window, ms.
    pub window_ms: u64,
    /// Requests per second to enter.
    pub min_rate: f64,
    /// Share of the group's requests to enter.
    pub min_share: f64,
    /// Fraction of both thresholds below which a key starts to leave.
    pub exit_ratio: f64,
    /// How long below before it leaves, ms.
    pub hold_ms: u64,
    /// Hot keys at most.
    pub max_keys: usize,
}

/// One hot key.
#[derive(Debug, Serialize)]
pub struct KeyStatus {
    /// The hash key.
    pub key: String,
    /// Cluster-wide requests per second.
    pub rate: f64,
    /// Share of the group's cluster-wide requests.
    pub share: f64,
    /// When it entered, Unix ms.
    pub since_unix_ms: u64,
    /// Nodes that report it, with their rates.
    pub nodes: Vec<(String, f64)>,
    /// Served from the first hop.
    pub edge: bool,
}

/// The first-hop store of a group.
#[derive(Debug, Serialize)]
pub struct FirstHopStatus {
    /// Responses held.
    pub entries: u64,
    /// Bytes held.
    pub bytes: u64,
    /// Capacity, bytes.
    pub capacity: u64,
    /// Longest time a response is served, ms.
    pub ttl_ms: u64,
    /// Whether purges are being heard (edge copies are served only then).
    pub serving: bool,
}
