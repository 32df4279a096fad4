//! L1: the in-process cache, bounded in bytes, each entry living until its `stale_until`.

use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::Expiry;

use super::entry::Entry;

/// Per-entry bookkeeping charged on top of key and value bytes.
const ENTRY_OVERHEAD: usize = 96;

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
#[derive(Clone)]
pub struct L1 {
    cache: Cache<String, Entry>,
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
            .build();
        L1 { cache }
    }

    /// The entry for `key`, fresh or stale-but-kept.
    pub async fn get(&self, key: &str) -> Option<Entry> {
        self.cache.get(key).await
    }

    /// Stores `entry` (replacing any older one).
    pub async fn put(&self, key: &str, entry: Entry) {
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

    /// Drops everything.
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }

    /// Whether `key` is present (fresh or stale).
    pub fn contains(&self, key: &str) -> bool {
        self.cache.contains_key(key)
    }

    /// Approximate bytes in use, after pending maintenance.
    pub async fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks().await;
        self.cache.weighted_size()
    }
}
