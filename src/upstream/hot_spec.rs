//! `[upstreams.NAME.hot]`: how a hash group finds and handles hot keys (read by `config`,
//! run by `crate::hot`); defaults are written here once.

use std::time::Duration;

/// Hot-key handling of one hash group.
#[derive(Debug, Clone, PartialEq)]
pub struct HotSpec {
    /// The sliding window rates and shares are measured over (10 slots).
    pub window: Duration,
    /// A key is hot from this many requests per second, cluster-wide (0 = no rate bound).
    pub min_rate: f64,
    /// ... and from this share of the group's requests, 0..1 (0 = no share bound).
    pub min_share: f64,
    /// A hot key leaves only once below `exit_ratio` × both thresholds ...
    pub exit_ratio: f64,
    /// ... for this long (hysteresis against flapping).
    pub hold: Duration,
    /// Hot keys at most (the hottest win).
    pub max_keys: usize,
    /// Send a hot key's requests to every member (round robin) instead of its hash node.
    pub spread: bool,
    /// When a key turns hot, request it once from every member so their caches hold it.
    pub prewarm: bool,
    /// The `[caches.NAME]` whose Redis carries the nodes' hot-key reports (and whose
    /// purges drop edge copies); `None` = this node's view only.
    pub cache: Option<String>,
    /// Pub/sub channel of the reports.
    pub channel: String,
    /// First-hop serving of the hottest keys' responses; `None` = off.
    pub edge: Option<FirstHopSpec>,
}

/// First-hop serving: complete responses of the hottest keys kept in this tier's memory.
#[derive(Debug, Clone, PartialEq)]
pub struct FirstHopSpec {
    /// How many of the hottest keys are served from memory.
    pub max_keys: usize,
    /// Longest a response is served from memory (shorter when `Cache-Control` says so).
    pub ttl: Duration,
    /// Bytes held at most (headers and bodies).
    pub capacity: u64,
    /// Larger responses are not kept.
    pub max_body: u64,
}

impl HotSpec {
    /// The defaults for group `group`: 1 s window, hot from 50 req/s and 5 % of the
    /// group's requests, out below half of both for 10 s, 16 keys, spread and prewarm on,
    /// no cache (local view), channel `edgeproxy:hot:<group>`, no edge serving.
    pub fn new(group: &str) -> Self {
        HotSpec {
            window: Duration::from_secs(1),
            min_rate: 50.0,
            min_share: 0.05,
            exit_ratio: 0.5,
            hold: Duration::from_secs(10),
            max_keys: 16,
            spread: true,
            prewarm: true,
            cache: None,
            channel: format!("edgeproxy:hot:{group}"),
            edge: None,
        }
    }
}

impl Default for FirstHopSpec {
    /// The 4 hottest keys, 2 s, 64 MiB, bodies up to 1 MiB.
    fn default() -> Self {
        FirstHopSpec {
            max_keys: 4,
            ttl: Duration::from_secs(2),
            capacity: 64 << 20,
            max_body: 1 << 20,
        }
    }
}
