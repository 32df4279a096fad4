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

impl Default for CacheSpec {
    /// A 128 MiB L1 and no Redis.
    fn default() -> Self {
        Self::local(128 << 20)
    }
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

pub use crate::redis_client::{RedisMode, RedisSpec, SeedSource};

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
