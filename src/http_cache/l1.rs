//! The response L1: this node's memory, bounded in bytes. moka's TinyLFU admission keeps
//! a one-off scan of cold URLs from evicting the popular objects (a new entry must be
//! estimated more frequent than the victim to get in), each entry lives until its
//! `keep_until`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use moka::sync::Cache;
use moka::Expiry;

use super::object::Object;

/// Bytes charged per entry beyond its key and object bytes (moka's bookkeeping, the `Arc`,
/// the meta's allocation); an estimate, like the page cache's.
const ENTRY_OVERHEAD: usize = 400;

/// An object in L1 with the purge generation it was stored under.
#[derive(Clone)]
pub struct Slot {
    /// The object.
    pub object: Arc<Object>,
    /// [`L1::demote_all`]'s counter when stored: older ones are served only after revalidation.
    generation: u64,
}

struct UntilKept;

impl Expiry<String, Slot> for UntilKept {
    fn expire_after_create(&self, _k: &String, v: &Slot, _at: Instant) -> Option<Duration> {
        Some(v.object.ttl())
    }

    fn expire_after_update(
        &self,
        _k: &String,
        v: &Slot,
        _at: Instant,
        _left: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.object.ttl())
    }
}

/// The local tier. Cloning shares it.
#[derive(Clone)]
pub struct L1 {
    cache: Cache<String, Slot, foldhash::fast::RandomState>,
    generation: Arc<AtomicU64>,
}

impl L1 {
    /// An empty tier holding at most `capacity_bytes`.
    pub fn new(capacity_bytes: u64) -> Self {
        let cache = Cache::builder()
            .max_capacity(capacity_bytes)
            .weigher(|k: &String, v: &Slot| {
                u32::try_from(k.len() + v.object.size() + ENTRY_OVERHEAD).unwrap_or(u32::MAX)
            })
            .expire_after(UntilKept)
            .build_with_hasher(foldhash::fast::RandomState::default());
        L1 {
            cache,
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The object stored under `key`, and whether purges may have been missed since it was
    /// stored (then it must be revalidated before use).
    pub fn get(&self, key: &str) -> Option<(Arc<Object>, bool)> {
        let slot = self.cache.get(key)?;
        let demoted = slot.generation != self.generation.load(Ordering::SeqCst);
        Some((slot.object, demoted))
    }

    /// Stores `object` under `key` (replacing any older one); an object already past its
    /// keep time is not stored.
    pub fn put(&self, key: &str, object: Arc<Object>) {
        if object.keep_until > SystemTime::now() {
            let generation = self.generation.load(Ordering::SeqCst);
            self.cache
                .insert(key.to_string(), Slot { object, generation });
        }
    }

    /// Drops `key`.
    pub fn remove(&self, key: &str) {
        self.cache.invalidate(key);
    }

    /// Drops every key starting with `prefix` (walks the whole tier: purges are rare).
    pub fn remove_prefix(&self, prefix: &str) {
        self.remove_where(|k, _| k.starts_with(prefix));
    }

    /// Keys of the objects tagged `tag`, dropping them (walks the whole tier).
    pub fn remove_tagged(&self, tag: &str) -> Vec<String> {
        self.remove_where(|_, o| o.tags.iter().any(|t| t == tag))
    }

    fn remove_where(&self, doomed: impl Fn(&str, &Object) -> bool) -> Vec<String> {
        let keys: Vec<String> = self
            .cache
            .iter()
            .filter(|(k, s)| doomed(k, &s.object))
            .map(|(k, _)| String::clone(&k))
            .collect();
        for k in &keys {
            self.cache.invalidate(k);
        }
        keys
    }

    /// Marks every object stored so far as needing revalidation (purges may have been
    /// missed: the subscription to the purge channel dropped).
    pub fn demote_all(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// Approximate bytes in use, after pending maintenance.
    pub fn weighted_size(&self) -> u64 {
        self.cache.run_pending_tasks();
        self.cache.weighted_size()
    }

    /// Drops everything (the cache was retired by a reload).
    pub fn clear(&self) {
        self.cache.invalidate_all();
    }
}
