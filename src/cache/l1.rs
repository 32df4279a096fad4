//! L1: the in-process cache, bounded in bytes, each entry living until its `stale_until`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;

use super::entry::Entry;

/// Per-entry memory charged on top of key and value bytes: moka's bookkeeping (hash-table
/// bucket, the key in an `Arc`, entry info, access/write/expiry queue nodes), the [`Entry`]
/// with its derived-form slot, and the key's own allocation. Measured with the page
/// benchmark (PSS of 50,000 more 4–8 KB product sources, jemalloc): ~1,160 bytes an entry
/// beyond the value's allocation, ~560 of them the page's parsed form, the rest this. Not
/// charged: derived forms (made after the insert; the page's is the JSON's structure only,
/// `plugins/page/doc.rs`) and the allocator's rounding of the value (~9 % at 4–8 KB).
const ENTRY_OVERHEAD: usize = 600;

struct UntilStale;

impl Expiry<String, Entry> for UntilStale {
    fn expire_after_create(&self, _k: &String, v: &Entry, _at: Instant) -> Option<Duration> {
        Some(v.stale_until.saturating_duration_since(Instant::now()))
    }

    fn expire_after_update(
        &self,
        _k: &String,
        v: &Entry,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.stale_until.saturating_duration_since(Instant::now()))
    }
}

/// The local tier. Cloning shares the same cache.
///
/// Entries carry the generation they were stored under; [`L1::demote_all`] bumps the
/// generation, which makes every older entry stale at once (still usable as a `STALE`
/// answer when Redis and the origin fail, never served as fresh).
#[derive(Clone)]
pub struct L1 {
    cache: Cache<String, Entry, foldhash::fast::RandomState>,
    generation: Arc<AtomicU64>,
}

impl L1 {
    /// An empty cache holding at most `capacity_bytes`.
    pub fn new(capacity_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|k: &String, v: &Entry| {
                u32::try_from(k.len() + v.payload_len() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
            })
            .expire_after(UntilStale)
            // foldhash (seeded per process) instead of SipHash: keys are hashed on every
            // lookup, and SipHash showed in the page's instruction profile.
            .build_with_hasher(foldhash::fast::RandomState::default());
        L1 {
            cache,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The entry for `key`, fresh or stale-but-kept.
    pub async fn get(&self, key: &str) -> Option<Entry> {
        let mut e = self.cache.get(key).await?;
        if e.generation != self.generation.load(Ordering::SeqCst) {
            e.fresh_until = e.fresh_until.min(Instant::now());
        }
        Some(e)
    }

    /// Stores `entry` (replacing any older one).
    pub async fn put(&self, key: &str, mut entry: Entry) {
        entry.generation = self.generation.load(Ordering::SeqCst);
        if entry.stale_until > Instant::now() {
            self.cache.insert(key.to_string(), entry).await;
        }
    }

    /// Drops `key`.
    pub async fn remove(&self, key: &str) {
        self.cache.invalidate(key).await;
    }

    /// Drops every key starting with `prefix`.
    pub async fn remove_prefix(&self, prefix: &str) {
        let doomed: Vec<_> = self
            .cache
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(k, _)| k)
            .collect();
        for k in doomed {
            self.cache.invalidate(k.as_str()).await;
        }
    }

    /// Makes every entry stored so far stale (kept for stale-if-error, never served fresh).
    pub fn demote_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Whether `key` is present and fresh.
    pub async fn has_fresh(&self, key: &str) -> bool {
        self.get(key).await.is_some_and(|e| e.is_fresh())
    }

    /// Approximate bytes in use, after pending maintenance.
    pub async fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.weighted_size()
    }
}
