//! The first-hop store: complete responses of the hottest keys, kept by the distribution tier
//! for a short time and answered without the second hop (`X-Cache: EDGE`).
//!
//! Only what a shared cache may keep is stored: a `GET` without `Authorization` or
//! `Range`, answered `200` without `Set-Cookie` or `Vary`, whose `Cache-Control` has none
//! of `no-store`, `no-cache`, `private` and no zero `max-age`/`s-maxage`; the TTL is the
//! configured one, shortened by `s-maxage` (else `max-age`).
//!
//! Purges: the store listens to the purges of the group's `cache` (the application tier's
//! purge channel). A response tagged by the application tier (`Surrogate-Key: k1 k2`, the
//! cache keys it was built from) is dropped by a purge of any of its tags; an untagged one
//! by any purge. A capture that was running while a purge happened is not stored. While
//! the purge subscription is down, nothing is served from the store.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use moka::sync::Cache;
use moka::Expiry;
use pingora::http::{RequestHeader, ResponseHeader};

use crate::cache::{PurgeListener, Purged, TieredCache};
use crate::upstream::FirstHopSpec;

/// The response header naming the cache keys a response was built from.
pub const TAGS: &str = "surrogate-key";

/// Fields of a response not kept (hop-by-hop, or about the upstream hop).
const HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    TAGS,
];

/// One stored response.
#[derive(Debug)]
pub struct Stored {
    /// Status and headers (hop-by-hop fields and the tags removed).
    pub header: ResponseHeader,
    /// The complete body.
    pub body: Bytes,
    /// The cache keys it was built from (empty: dropped by any purge).
    pub tags: Box<[String]>,
    /// When it was stored.
    pub stored: Instant,
    /// How long it may be served.
    pub ttl: Duration,
}

struct ByTtl;

impl Expiry<String, Arc<Stored>> for ByTtl {
    fn expire_after_create(&self, _: &String, v: &Arc<Stored>, _: Instant) -> Option<Duration> {
        Some(v.ttl)
    }
}

/// The first-hop store of one group.
pub struct FirstHopStore {
    spec: FirstHopSpec,
    entries: Cache<String, Arc<Stored>>,
    purges: AtomicU64,
    cache: TieredCache,
}

/// The key of a request in the store: host and target; `None` when the request may not be
/// answered from a shared cache (method, `Authorization`, `Range`).
pub fn request_key(req: &RequestHeader) -> Option<String> {
    if req.method != http::Method::GET && req.method != http::Method::HEAD {
        return None;
    }
    let h = &req.headers;
    if h.contains_key(http::header::AUTHORIZATION) || h.contains_key(http::header::RANGE) {
        return None;
    }
    let host = h
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let target = req.uri.path_and_query().map_or("/", |pq| pq.as_str());
    Some(format!("{host} {target}"))
}

/// How long `resp` may be kept (at most `max`); `None` when it may not be kept.
pub fn cacheable(resp: &ResponseHeader, max: Duration) -> Option<Duration> {
    let h = &resp.headers;
    if resp.status != 200
        || h.contains_key(http::header::SET_COOKIE)
        || h.contains_key(http::header::VARY)
    {
        return None;
    }
    let mut ttl = max;
    let (mut max_age, mut s_maxage) = (None, None);
    for v in h.get_all(http::header::CACHE_CONTROL) {
        let v = v.to_str().ok()?;
        for d in v.split(',').map(|d| d.trim().to_ascii_lowercase()) {
            let (name, value) = d.split_once('=').map_or((d.as_str(), None), |(n, v)| {
                (n.trim(), Some(v.trim().trim_matches('"')))
            });
            match name {
                "no-store" | "no-cache" | "private" => return None,
                "max-age" => max_age = Some(value.and_then(|v| v.parse::<u64>().ok())?),
                "s-maxage" => s_maxage = Some(value.and_then(|v| v.parse::<u64>().ok())?),
                _ => {}
            }
        }
    }
    if let Some(secs) = s_maxage.or(max_age) {
        ttl = ttl.min(Duration::from_secs(secs));
    }
    (!ttl.is_zero()).then_some(ttl)
}

impl FirstHopStore {
    /// A store for `spec` that hears the purges of `cache`.
    pub fn new(spec: FirstHopSpec, cache: TieredCache) -> Arc<Self> {
        let entries = Cache::builder()
            .max_capacity(spec.capacity)
            .weigher(|k: &String, v: &Arc<Stored>| {
                let head: usize = v
                    .header
                    .headers
                    .iter()
                    .map(|(n, v)| n.as_str().len() + v.len() + 8)
                    .sum();
                u32::try_from(k.len() + head + v.body.len() + 128).unwrap_or(u32::MAX)
            })
            .expire_after(ByTtl)
            .build();
        let store = Arc::new(FirstHopStore {
            spec,
            entries,
            purges: AtomicU64::new(0),
            cache: cache.clone(),
        });
        cache.add_purge_listener(store.clone());
        store
    }

    /// The settings.
    pub fn spec(&self) -> &FirstHopSpec {
        &self.spec
    }

    /// Whether purges are heard now (no Redis: local purges only; with Redis: while the
    /// purge subscription is up). Nothing is served otherwise.
    pub fn serving(&self) -> bool {
        !self.cache.has_redis() || self.cache.is_subscribed()
    }

    /// The stored response for `key`, while it may be served.
    pub fn get(&self, key: &str) -> Option<Arc<Stored>> {
        if !self.serving() {
            return None;
        }
        self.entries.get(key).filter(|s| s.stored.elapsed() < s.ttl)
    }

    /// A token for a capture starting now (see [`put`](Self::put)).
    pub fn begin(&self) -> u64 {
        self.purges.load(Ordering::SeqCst)
    }

    /// Stores a response captured since `began`, unless a purge happened meanwhile.
    pub fn put(&self, key: String, stored: Stored, began: u64) -> bool {
        if self.purges.load(Ordering::SeqCst) != began || !self.serving() {
            return false;
        }
        self.entries.insert(key.clone(), Arc::new(stored));
        // A purge that ran during the insert may have missed the new entry.
        if self.purges.load(Ordering::SeqCst) != began {
            self.entries.invalidate(&key);
            return false;
        }
        true
    }

    /// Responses held and their bytes.
    pub fn usage(&self) -> (u64, u64) {
        self.entries.run_pending_tasks();
        (self.entries.entry_count(), self.entries.weighted_size())
    }

    fn drop_where(&self, doomed: impl Fn(&Stored) -> bool) {
        let keys: Vec<Arc<String>> = self
            .entries
            .iter()
            .filter(|(_, s)| s.tags.is_empty() || doomed(s))
            .map(|(k, _)| k)
            .collect();
        for k in keys {
            self.entries.invalidate(k.as_str());
        }
    }
}

impl PurgeListener for FirstHopStore {
    fn purged(&self, what: Purged<'_>) {
        self.purges.fetch_add(1, Ordering::SeqCst);
        match what {
            Purged::Key(k) => self.drop_where(|s| s.tags.iter().any(|t| t == k)),
            Purged::Prefix(p) => self.drop_where(|s| s.tags.iter().any(|t| t.starts_with(p))),
            Purged::All => self.entries.invalidate_all(),
        }
    }
}

/// The header to store for `resp`: without hop-by-hop fields and tags.
pub fn storable_header(resp: &ResponseHeader) -> ResponseHeader {
    let mut h = resp.clone();
    for name in HOP {
        h.remove_header(name);
    }
    h
}

/// The tags of `resp` (`Surrogate-Key`, space-separated).
pub fn tags(resp: &ResponseHeader) -> Box<[String]> {
    resp.headers
        .get_all(TAGS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split_ascii_whitespace().map(str::to_string))
        .collect()
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
