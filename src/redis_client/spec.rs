//! Where Redis lives and how it is called: the spec every user of [`RedisClient`]
//! (cache L2, gateway plugins) builds from. A few fields are the cache's own (rebuild
//! lock, purge channel); others leave them at their defaults.
//!
//! [`RedisClient`]: super::RedisClient

use std::time::Duration;

/// Where Redis lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisMode {
    /// One server, e.g. `redis://127.0.0.1:6379/0`.
    Single(String),
    /// Seed nodes of a Redis Cluster, e.g. `["redis://10.0.0.1:7000", ...]`.
    Cluster(Vec<String>),
}

/// Configuration of the L2 Redis tier.
#[derive(Debug, Clone)]
pub struct RedisSpec {
    /// Single node or cluster.
    pub mode: RedisMode,
    /// Upper bound of every Redis call made on the request path (e.g. 50ms–200ms).
    pub timeout: Duration,
    /// Upper bound of establishing the client (first use, or after a failed attempt).
    pub connect_timeout: Duration,
    /// Consecutive failures or timeouts that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long the breaker stays open before one half-open probe is let through.
    pub breaker_cooldown: Duration,
    /// Lifetime of a rebuild lock (`SET lock:<key> NX PX`): longer than an origin load.
    pub lock_ttl: Duration,
    /// How long a node that lost the rebuild lock polls L2 before loading itself.
    pub lock_wait: Duration,
    /// Prefix of every key this engine writes in Redis (values and locks), e.g. `"ep:"`.
    pub key_prefix: String,
    /// Pub/sub channel on which purges are broadcast to every node's L1.
    pub purge_channel: String,
    /// Upper bound of a whole purge (Redis delete, then broadcast): a purge answers within
    /// it whatever Redis does. The delete may use the first half, the broadcast the rest.
    pub purge_timeout: Duration,
    /// A live source of node addresses (e.g. an upstream group fed by Consul KV), read each
    /// time the client is (re)created; when it yields nothing, `mode`'s addresses are used.
    pub seeds_from: Option<SeedSource>,
}

/// A live list of `redis://host:port` node URLs.
#[derive(Clone)]
pub struct SeedSource(pub std::sync::Arc<dyn Fn() -> Vec<String> + Send + Sync>);

impl std::fmt::Debug for SeedSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SeedSource(..)")
    }
}

impl RedisSpec {
    /// A spec with conservative defaults for everything but the address.
    pub fn new(mode: RedisMode) -> Self {
        RedisSpec {
            mode,
            timeout: Duration::from_millis(100),
            connect_timeout: Duration::from_millis(500),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(2),
            lock_ttl: Duration::from_secs(3),
            lock_wait: Duration::from_millis(500),
            key_prefix: "ep:".to_string(),
            purge_channel: "edgeproxy:purge".to_string(),
            purge_timeout: Duration::from_secs(1),
            seeds_from: None,
        }
    }

    /// The node URLs to connect to now: the live source's, else the configured ones.
    pub fn node_urls(&self) -> Vec<String> {
        if let Some(live) = self.seeds_from.as_ref().map(|s| (s.0)()) {
            if !live.is_empty() {
                return live;
            }
        }
        match &self.mode {
            RedisMode::Single(u) => vec![u.clone()],
            RedisMode::Cluster(nodes) => nodes.clone(),
        }
    }
}

/// The node URL of an address as written in a config: `redis://…` and `rediss://…` as they
/// are, `host:port` (or `[v6]:port`) as `redis://host:port`; `None` for anything else.
pub fn node_url(addr: &str) -> Option<String> {
    let v = addr.trim();
    if v.starts_with("redis://") || v.starts_with("rediss://") {
        Some(v.to_string())
    } else if v.parse::<std::net::SocketAddr>().is_ok() || v.contains(':') {
        Some(format!("redis://{v}"))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_urls_from_config_addresses() {
        assert_eq!(
            node_url(" 127.0.0.1:6379").as_deref(),
            Some("redis://127.0.0.1:6379")
        );
        assert_eq!(node_url("redis://h:1/2").as_deref(), Some("redis://h:1/2"));
        assert_eq!(
            node_url("redis-host:7000").as_deref(),
            Some("redis://redis-host:7000")
        );
        assert_eq!(node_url("localhost"), None);
    }
}
