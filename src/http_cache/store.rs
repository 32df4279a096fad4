//! The [`Storage`] Pingora's HTTP cache reads and fills: L1 (this node's memory), then, when
//! the cache has Redis, L2 (shared by every node) under a cross-node fill lock.
//!
//! ```text
//! lookup(key) ─► L1 ─► found: hit (or stale: Pingora revalidates / serves stale)
//!                └► one L2 round per key on this node (single flight):
//!                   Redis GET ─► found: into L1, hit
//!                   fill lock (SET NX PX) won ─► miss: this node fetches, its fill
//!                                                 lands in L1 and Redis, then unlocks
//!                   lost ─► poll Redis up to `lock_wait` for the winner's object,
//!                           else miss (fetch ourselves: the documented fallback)
//! ```
//! On one node, concurrent misses of an object are held by Pingora's cache lock, so one
//! request fetches it. Pingora wants `&'static` storage: [`Store`] is a small leaked shell
//! whose tiers ([`Tiers`]) are dropped when the cache is retired by a reload, so a reload
//! that changes the cache leaks a few bytes, never its objects.

use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwapOption;
use async_trait::async_trait;
use bytes::Bytes;
use pingora::cache::key::CacheHashKey;
use pingora::cache::storage::{
    HandleHit, HandleMiss, HitHandler, MissFinishType, MissHandler, PurgeOutcome, PurgeTarget,
    PurgeType,
};
use pingora::cache::trace::SpanHandle;
use pingora::cache::{CacheKey, CacheMeta, Storage};
use pingora::{Error, ErrorType, Result};

use super::l1::L1;
use super::l2::L2;
use super::metrics::HttpCacheMetrics;
use super::object::{BodyBuffer, Object};
use crate::cache::SingleFlight;

/// Largest piece of body handed to Pingora per read on a hit.
const CHUNK: usize = 64 << 10;

/// The tiers of one response cache.
pub struct Tiers {
    /// This node's memory.
    pub l1: L1,
    /// The shared Redis tier, if the cache has Redis.
    pub l2: Option<L2>,
    /// Responses larger than this are not stored.
    pub max_object_bytes: usize,
    /// The cache's metrics.
    pub metrics: HttpCacheMetrics,
    flight: SingleFlight<Option<Arc<Object>>>,
    /// Fill locks this node holds, by storage key: the token to release them with.
    locks: Mutex<HashMap<String, String>>,
    token_base: String,
    token_seq: AtomicU64,
}

impl Tiers {
    /// Tiers over `l1` and `l2`.
    pub fn new(l1: L1, l2: Option<L2>, max_object_bytes: usize, metrics: HttpCacheMetrics) -> Self {
        Tiers {
            l1,
            l2,
            max_object_bytes,
            metrics,
            flight: SingleFlight::new(),
            locks: Mutex::new(HashMap::new()),
            token_base: format!("{:016x}{:08x}", rand::random::<u64>(), std::process::id()),
            token_seq: AtomicU64::new(0),
        }
    }

    fn locks(&self) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
        self.locks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The object under `skey` from Redis, or, for a primary key Redis does not hold, the
    /// fill lock (then `None`: this node fetches) or another node's fill waited for.
    async fn look_up_l2(&self, skey: &str, primary: bool) -> Option<Arc<Object>> {
        let l2 = self.l2.as_ref()?;
        self.flight
            .run(skey, || async {
                let found = match l2.get(skey).await {
                    Some(o) => Some(o),
                    None if !primary => None,
                    None => {
                        let token = format!(
                            "{}-{}",
                            self.token_base,
                            self.token_seq.fetch_add(1, Ordering::Relaxed)
                        );
                        if l2.lock(skey, &token).await {
                            self.locks().insert(skey.to_string(), token);
                            return None;
                        }
                        self.metrics.cluster_lock_waits.inc();
                        l2.wait_for_fill(skey).await
                    }
                };
                let o = Arc::new(found?);
                self.metrics.l2_hits.inc();
                self.l1.put(skey, o.clone());
                Some(o)
            })
            .await
    }

    /// Releases the fill lock of `skey` if this node holds it (after a fill, or when the
    /// response turned out not to be stored).
    pub fn release_lock(&self, skey: &str) {
        let Some(token) = self.locks().remove(skey) else {
            return;
        };
        if let Some(l2) = self.l2.clone() {
            let skey = skey.to_string();
            tokio::spawn(async move { l2.unlock(&skey, &token).await });
        }
    }

    /// Stores a finished fill in L1, then (in the background) in Redis, then unlocks.
    fn stored(&self, skey: String, object: Object) {
        let object = Arc::new(object);
        self.l1.put(&skey, object.clone());
        self.metrics
            .stored_bytes
            .set(self.l1.weighted_size() as i64);
        let token = self.locks().remove(&skey);
        if let Some(l2) = self.l2.clone() {
            tokio::spawn(async move {
                l2.put(&skey, &object).await;
                if let Some(token) = token {
                    l2.unlock(&skey, &token).await;
                }
            });
        }
    }
}

/// The key objects are stored under: the cache key's text, plus the variant's hash for a
/// `Vary` variant (so purging a key, or a prefix, reaches every variant).
pub fn storage_key(key: &CacheKey) -> String {
    let text = String::from_utf8_lossy(key.primary_key());
    match key.variance() {
        None => text.into_owned(),
        Some(v) => format!("{text}#vary={v}"),
    }
}

/// The `&'static` shell Pingora holds; see the module docs.
#[derive(Default)]
pub struct Store {
    tiers: ArcSwapOption<Tiers>,
}

impl Store {
    /// A leaked shell over `tiers` (one per cache built; see the module docs).
    pub fn leak(tiers: Arc<Tiers>) -> &'static Store {
        let store: &'static Store = Box::leak(Box::default());
        store.tiers.store(Some(tiers));
        store
    }

    /// Drops the tiers: the cache was retired (lookups miss from now on).
    pub fn retire(&self) {
        if let Some(t) = self.tiers.swap(None) {
            t.l1.clear();
        }
    }

    fn tiers(&self) -> Result<Arc<Tiers>> {
        self.tiers
            .load_full()
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "http cache retired"))
    }
}

#[async_trait]
impl Storage for Store {
    async fn lookup(
        &'static self,
        key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<Option<(CacheMeta, HitHandler)>> {
        let Ok(t) = self.tiers() else {
            return Ok(None);
        };
        let skey = storage_key(key);
        let (object, demoted) = match t.l1.get(&skey) {
            Some(found) => found,
            None => match t.look_up_l2(&skey, key.get_variance_key().is_none()).await {
                Some(o) => (o, false),
                None => return Ok(None),
            },
        };
        let Some(mut meta) = object.meta() else {
            t.l1.remove(&skey);
            return Ok(None);
        };
        if demoted {
            // Purges may have been missed: usable only once the origin confirms it.
            meta.expire_at(SystemTime::UNIX_EPOCH);
        }
        Ok(Some((meta, Box::new(Hit::new(object.body.clone())))))
    }

    async fn get_miss_handler(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<MissHandler> {
        let tiers = self.tiers()?;
        let (internal, header) = meta.serialize()?;
        Ok(Box::new(Fill {
            skey: storage_key(key),
            internal: internal.into(),
            header: header.into(),
            body: BodyBuffer::new(tiers.max_object_bytes),
            tiers,
        }))
    }

    /// Purges go by cache key text through the admin API (see `purge` in the module's
    /// parent); Pingora's own `PURGE` method, which would call this with a hash, is not
    /// enabled, so there is nothing to find by hash.
    async fn purge(
        &'static self,
        _target: PurgeTarget<'_>,
        _purge_type: PurgeType,
        _trace: &SpanHandle,
    ) -> Result<PurgeOutcome> {
        Ok(PurgeOutcome::NotFound)
    }

    async fn update_meta(
        &'static self,
        key: &CacheKey,
        meta: &CacheMeta,
        _trace: &SpanHandle,
    ) -> Result<bool> {
        let t = self.tiers()?;
        let skey = storage_key(key);
        let Some((old, _)) = t.l1.get(&skey) else {
            return Ok(false);
        };
        let Some(object) = old.with_meta(meta) else {
            return Ok(false);
        };
        t.stored(skey, object);
        Ok(true)
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync + 'static) {
        self
    }
}

/// A hit: the stored body, whole or a seeked range, in pieces of at most [`CHUNK`].
struct Hit {
    body: Bytes,
}

impl Hit {
    fn new(body: Bytes) -> Self {
        Hit { body }
    }
}

#[async_trait]
impl HandleHit for Hit {
    async fn read_body(&mut self) -> Result<Option<Bytes>> {
        if self.body.is_empty() {
            return Ok(None);
        }
        let n = self.body.len().min(CHUNK);
        Ok(Some(self.body.split_to(n)))
    }

    async fn finish(
        self: Box<Self>,
        _storage: &'static (dyn Storage + Sync),
        _key: &CacheKey,
        _trace: &SpanHandle,
    ) -> Result<()> {
        Ok(())
    }

    fn can_seek(&self) -> bool {
        true
    }

    fn seek(&mut self, start: usize, end: Option<usize>) -> Result<()> {
        let end = end.unwrap_or(self.body.len()).min(self.body.len());
        if start > end {
            return Error::e_explain(ErrorType::InternalError, "seek past the end of the body");
        }
        self.body = self.body.slice(start..end);
        Ok(())
    }

    fn as_any(&self) -> &(dyn Any + Send + Sync) {
        self
    }

    fn as_any_mut(&mut self) -> &mut (dyn Any + Send + Sync) {
        self
    }
}

/// A fill: the body accumulated up to the cache's object size limit, stored on finish.
struct Fill {
    tiers: Arc<Tiers>,
    skey: String,
    internal: Bytes,
    header: Bytes,
    body: BodyBuffer,
}

#[async_trait]
impl HandleMiss for Fill {
    async fn write_body(&mut self, data: Bytes, _eof: bool) -> Result<()> {
        self.body.push(&data);
        Ok(())
    }

    async fn finish(self: Box<Self>) -> Result<MissFinishType> {
        let Fill {
            tiers,
            skey,
            internal,
            header,
            body,
        } = *self;
        let Some(body) = body.finish() else {
            tiers.release_lock(&skey);
            return Error::e_explain(
                ErrorType::Custom("response too large"),
                "response larger than max_object_size: streamed, not stored",
            );
        };
        let meta = CacheMeta::deserialize(&internal, &header)?;
        let size = internal.len() + header.len() + body.len();
        let object = Object::new(&meta, body)
            .ok_or_else(|| Error::explain(ErrorType::InternalError, "cache meta not storable"))?;
        tiers.stored(skey, object);
        Ok(MissFinishType::Created(size))
    }
}
