//! What the cache did for a response, as the client sees it: `Cache-Status` (RFC 9211) and
//! `X-Cache`, and as the metrics count it.

use std::time::SystemTime;

use pingora::cache::{CachePhase, HttpCache, NoCacheReason};

/// The cache's name in `Cache-Status`.
pub const CACHE_NAME: &str = "edgeproxy";

/// What the cache did, in the words of the metrics (`hit`, `miss`, `stale`,
/// `revalidated`, `expired`, `bypass`) and of `X-Cache`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Served from the cache, fresh.
    Hit,
    /// Served from the cache, stale (while revalidating, or because the origin failed).
    Stale,
    /// A stored response was revalidated with the origin (304) and served.
    Revalidated,
    /// A stored response was stale and the origin sent a new one.
    Expired,
    /// Not in the cache: fetched (and stored when `stored`).
    Miss {
        /// Whether the response is being stored.
        stored: bool,
    },
    /// The cache was not used for this request (method, request directives, lock timeout).
    Bypass,
}

impl Outcome {
    /// The outcome of `cache` at response time (`None` if the cache was never enabled).
    pub fn of(cache: &HttpCache) -> Option<Outcome> {
        Some(match cache.phase() {
            CachePhase::Hit => Outcome::Hit,
            CachePhase::Stale | CachePhase::StaleUpdating => Outcome::Stale,
            CachePhase::Revalidated | CachePhase::RevalidatedNoCache(_) => Outcome::Revalidated,
            CachePhase::Expired => Outcome::Expired,
            CachePhase::Miss => Outcome::Miss { stored: true },
            CachePhase::Disabled(NoCacheReason::NeverEnabled) => return None,
            CachePhase::Disabled(
                NoCacheReason::OriginNotCache
                | NoCacheReason::ResponseTooLarge
                | NoCacheReason::Custom(_),
            ) => Outcome::Miss { stored: false },
            CachePhase::Disabled(_) | CachePhase::Bypass => Outcome::Bypass,
            CachePhase::Uninit | CachePhase::CacheKey => return None,
        })
    }

    /// The metrics' word.
    pub fn metric(self) -> &'static str {
        match self {
            Outcome::Hit => "hit",
            Outcome::Stale => "stale",
            Outcome::Revalidated => "revalidated",
            Outcome::Expired => "expired",
            Outcome::Miss { .. } => "miss",
            Outcome::Bypass => "bypass",
        }
    }

    /// The `X-Cache` value.
    pub fn x_cache(self) -> &'static str {
        match self {
            Outcome::Hit => "HIT",
            Outcome::Stale => "STALE",
            Outcome::Revalidated => "REVALIDATED",
            Outcome::Expired => "EXPIRED",
            Outcome::Miss { .. } => "MISS",
            Outcome::Bypass => "BYPASS",
        }
    }

    /// The `Cache-Status` value (RFC 9211): `hit` with the remaining freshness for an
    /// answer from the cache, `fwd=` why the origin was asked otherwise.
    pub fn cache_status(self, cache: &HttpCache, upstream_status: Option<u16>) -> String {
        let ttl = || {
            cache.maybe_cache_meta().map(|m| {
                let now = SystemTime::now();
                match m.fresh_until().duration_since(now) {
                    Ok(d) => d.as_secs() as i64,
                    Err(e) => -(e.duration().as_secs() as i64),
                }
            })
        };
        let fwd_status = upstream_status.map_or(String::new(), |s| format!("; fwd-status={s}"));
        match self {
            Outcome::Hit | Outcome::Stale => match ttl() {
                Some(t) => format!("{CACHE_NAME}; hit; ttl={t}"),
                None => format!("{CACHE_NAME}; hit"),
            },
            Outcome::Revalidated => format!("{CACHE_NAME}; fwd=stale{fwd_status}"),
            Outcome::Expired => format!("{CACHE_NAME}; fwd=stale{fwd_status}; stored"),
            Outcome::Miss { stored: true } => {
                format!("{CACHE_NAME}; fwd=uri-miss{fwd_status}; stored")
            }
            Outcome::Miss { stored: false } => format!("{CACHE_NAME}; fwd=uri-miss{fwd_status}"),
            Outcome::Bypass => format!("{CACHE_NAME}; fwd=bypass{fwd_status}"),
        }
    }
}
