//! Which cache level answered a lookup.

/// Which cache level answered a content lookup (reported as `X-Cache`, in logs and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheLevel {
    /// In-process cache.
    L1,
    /// Redis.
    L2,
    /// The origin service.
    Origin,
    /// An expired value served because Redis and the origin both failed.
    Stale,
    /// A complete response served by the distribution tier from its first-hop store (hot keys; `X-Cache: EDGE` on the wire).
    FirstHop,
}

impl CacheLevel {
    /// The name used in `X-Cache`, logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheLevel::L1 => "L1",
            CacheLevel::L2 => "L2",
            CacheLevel::Origin => "ORIGIN",
            CacheLevel::Stale => "STALE",
            CacheLevel::FirstHop => "EDGE",
        }
    }
}
