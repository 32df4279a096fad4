//! Plain typed configuration of the tiered cache; the config module maps TOML into these.

use std::time::Duration;

/// Configuration of one [`TieredCache`](super::TieredCache) engine.
#[derive(Debug, Clone)]
pub struct CacheSpec {
    /// Upper bound of the in-process L1, in bytes (key + value + a small per-entry overhead).
    pub l1_capacity_bytes: u64,
    /// The shared L2; `None` runs L1 + origin only.
    pub redis: Option<RedisSpec>,
}

impl CacheSpec {
    /// An L1-only spec of the given size (no Redis).
    pub fn local(l1_capacity_bytes: u64) -> Self {
        CacheSpec {
            l1_capacity_bytes,
            redis: None,
        }
    }
}

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
        }
    }
}

/// Lifetimes applied to one lookup's write-backs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttls {
    /// How long a found value is served as fresh.
    pub fresh: Duration,
    /// How long an origin 404 is remembered (negative caching).
    pub negative: Duration,
    /// How long after expiry a value is still kept to be served as `STALE` when Redis and
    /// the origin both fail (stale-if-error).
    pub stale_grace: Duration,
}
