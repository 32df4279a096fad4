//! The tiered cache engine: the public entry point of this module.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;

use super::coalesce::SingleFlight;
use super::derived::{Derived, Version};
use super::entry::Entry;
use super::l1::L1;
use super::load::{Answer, Miss};
use super::metrics::CacheMetrics;
use super::origin::{LoadError, Loader};
use super::purge::{self, PurgeReport, Target};
use super::redis::RedisTier;
use super::spec::{CacheSpec, Ttls};
use super::subscriber::{self, ChannelHandler, Hearers, PurgeListener, Purged, SubState};
use super::tags::TagIndex;
use super::CacheLevel;

/// The answer of one lookup.
#[derive(Debug, Clone)]
pub struct Lookup {
    /// The value; `None` is a negative hit (the origin said 404, remembered).
    pub value: Option<Bytes>,
    /// The level that answered.
    pub level: CacheLevel,
    /// The identity of the stored value that answered (see [`Derived`]): equal versions
    /// mean the very same stored value, so what was computed from it still holds.
    pub version: Version,
    /// The stored value's slot for a form derived from it (e.g. parsed JSON).
    pub derived: Derived,
}

impl Lookup {
    fn of(e: Entry, level: CacheLevel) -> Lookup {
        Lookup {
            value: e.value,
            level,
            version: e.version,
            derived: e.derived,
        }
    }
}

/// A lookup that produced nothing: no value, no negative entry, no stale copy.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CacheError {
    /// The origin failed and neither L1 nor L2 held even a stale copy of the key.
    #[error("cache lookup of {key:?} failed: origin error ({source}) and no stale copy to serve")]
    Origin {
        /// The key looked up.
        key: String,
        /// The origin's error.
        source: LoadError,
    },
}

struct Inner {
    name: Box<str>,
    metrics: CacheMetrics,
    l1: L1,
    redis: Option<Arc<RedisTier>>,
    flight: SingleFlight<Result<Answer, LoadError>>,
    token_base: String,
    token_seq: AtomicU64,
    sub: Arc<SubState>,
    listeners: Arc<arc_swap::ArcSwap<Vec<Arc<dyn PurgeListener>>>>,
    tag_indexes: arc_swap::ArcSwap<Vec<Arc<dyn TagIndex>>>,
    extra: Mutex<Vec<(String, ChannelHandler)>>,
    background: Mutex<Option<tokio::task::JoinHandle<()>>>,
    started: AtomicBool,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Ok(mut bg) = self.background.lock() {
            if let Some(h) = bg.take() {
                h.abort();
            }
        }
    }
}

/// Why a message could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The cache has no Redis tier.
    #[error("the cache has no redis tier")]
    NoRedis,
    /// Redis failed (timeout, open breaker, connection).
    #[error("redis: {0}")]
    Redis(String),
}

/// L1 (moka) → L2 (Redis, optional) → L3 (the caller's [`Loader`]) lookup engine.
/// Cheap to clone; clones share everything. Building one opens no socket.
#[derive(Clone)]
pub struct TieredCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for TieredCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredCache")
            .field("name", &self.inner.name)
            .field(
                "redis",
                &self.inner.redis.as_ref().map(|r| r.spec().mode.clone()),
            )
            .finish()
    }
}

impl TieredCache {
    /// This engine's identity (clones share it): two handles with one id are one cache.
    pub fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as usize
    }

    /// An engine for `spec` whose metrics carry `cache="-"`; see [`named`](Self::named).
    pub fn new(spec: CacheSpec) -> Self {
        Self::named("-", spec)
    }

    /// An engine for `spec` named `name` (the `[caches.NAME]` name): its metrics carry
    /// `cache="NAME"`. No I/O happens until the first lookup (or
    /// [`start_background`](Self::start_background)), so this is safe under `-t`.
    pub fn named(name: &str, spec: CacheSpec) -> Self {
        let metrics = CacheMetrics::new(name);
        let token_base = format!("{:016x}{:08x}", rand::random::<u64>(), std::process::id());
        TieredCache {
            inner: Arc::new(Inner {
                name: name.into(),
                l1: L1::new(spec.l1_capacity_bytes),
                redis: spec.redis.map(|r| Arc::new(RedisTier::new(r, &metrics))),
                metrics,
                flight: SingleFlight::new(),
                token_base,
                token_seq: AtomicU64::new(0),
                sub: Arc::new(SubState::default()),
                listeners: Default::default(),
                tag_indexes: Default::default(),
                extra: Mutex::new(Vec::new()),
                background: Mutex::new(None),
                started: AtomicBool::new(false),
            }),
        }
    }

    /// Looks `key` up in L1, then L2, then loads it with `loader` (under the cross-node
    /// rebuild lock), writing back into the levels it missed. Concurrent lookups of one key
    /// on this engine share one L2/origin round. Redis failures never fail a lookup; an
    /// origin failure is answered from a stale copy when there is one, else it is the error.
    ///
    /// A key must name one piece of content: lookups of the same key share results whatever
    /// `loader` or `ttls` they pass. Callers that waited on another caller's load report the
    /// level that answered that load.
    pub async fn get(
        &self,
        key: &str,
        ttls: &Ttls,
        loader: &dyn Loader,
    ) -> Result<Lookup, CacheError> {
        let inner = &self.inner;
        if inner.redis.is_some() && !inner.started.load(Ordering::Relaxed) {
            self.start_background();
        }
        if let Some(e) = inner.l1.get(key).await {
            let level = if e.is_fresh() {
                Some(CacheLevel::L1)
            } else if e.in_stale_backoff() {
                Some(CacheLevel::Stale)
            } else {
                None
            };
            if let Some(level) = level {
                inner.metrics.lookup(level);
                return Ok(Lookup::of(e, level));
            }
        }
        self.load(key, ttls, loader).await
    }

    /// The rest of [`get`](Self::get) after an L1 miss: L2, then the origin, one round per
    /// key. Boxed: inline, its state (the Redis and origin rounds) would make every lookup's
    /// future as large, L1 hits included, and a caller that moves lookups around (`join_all`
    /// over a page's sources) would copy it per request.
    fn load<'a>(
        &'a self,
        key: &'a str,
        ttls: &'a Ttls,
        loader: &'a dyn Loader,
    ) -> futures::future::BoxFuture<'a, Result<Lookup, CacheError>> {
        crate::boxed::in_box!(async move {
            let inner = &self.inner;
            let token = format!(
                "{}-{}",
                inner.token_base,
                inner.token_seq.fetch_add(1, Ordering::Relaxed)
            );
            let miss = Miss {
                key,
                ttls,
                l1: &inner.l1,
                redis: inner.redis.as_deref(),
                token: &token,
            };
            match inner.flight.run(key, || miss.resolve(loader)).await {
                Ok((entry, level)) => {
                    inner.metrics.lookup(level);
                    Ok(Lookup::of(entry, level))
                }
                Err(source) => {
                    inner.metrics.lookup_errors.inc();
                    Err(CacheError::Origin {
                        key: key.to_string(),
                        source,
                    })
                }
            }
        })
    }

    /// Drops `key` from this node's L1, deletes it in Redis and tells every other node to
    /// drop it from its L1. The two Redis steps are tried whatever the other's outcome and
    /// take at most `purge_timeout` together; the report says which of them failed.
    pub async fn purge(&self, key: &str) -> PurgeReport {
        self.hearers().apply(Purged::Key(key)).await;
        match &self.inner.redis {
            Some(r) => purge::purge(r, Target::Key(key)).await,
            None => PurgeReport::default(),
        }
    }

    /// Drops every key starting with `prefix`, like [`purge`](Self::purge); the report
    /// counts the Redis keys deleted.
    pub async fn purge_prefix(&self, prefix: &str) -> PurgeReport {
        self.hearers().apply(Purged::Prefix(prefix)).await;
        match &self.inner.redis {
            Some(r) => purge::purge(r, Target::Prefix(prefix)).await,
            None => PurgeReport::default(),
        }
    }

    /// Starts the purge subscriber on the current tokio runtime (idempotent; the first
    /// lookup also starts it). Returns whether it is running: `false` without Redis or
    /// outside a runtime. It stops when the last clone of the engine is dropped. Its first
    /// subscription demotes L1 to stale (purges sent before it listened were missed), so call
    /// it when the service starts to keep that from costing warm entries a trip to L2.
    pub fn start_background(&self) -> bool {
        self.start_background_inner()
    }

    /// Whether the purge subscriber was started.
    pub fn background_started(&self) -> bool {
        self.inner.started.load(Ordering::Relaxed)
    }

    fn start_background_inner(&self) -> bool {
        let Some(r) = &self.inner.redis else {
            return false;
        };
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            return false;
        };
        let Ok(mut bg) = self.inner.background.lock() else {
            return false;
        };
        if bg.is_none() {
            let spec = r.spec();
            let extra = match self.inner.extra.lock() {
                Ok(e) => e.clone(),
                Err(p) => p.into_inner().clone(),
            };
            *bg = Some(handle.spawn(subscriber::subscriber(
                r.clone(),
                spec.purge_channel.clone(),
                self.hearers(),
                extra,
                self.inner.sub.clone(),
                spec.connect_timeout,
            )));
            self.inner.started.store(true, Ordering::Relaxed);
        }
        true
    }

    fn hearers(&self) -> Hearers {
        Hearers {
            l1: self.inner.l1.clone(),
            listeners: self.inner.listeners.clone(),
        }
    }

    /// Registers `listener` to hear every purge this node applies: its own (before the
    /// Redis steps) and those received from other nodes, plus `Purged::All` whenever
    /// purges may have been missed (no subscription).
    pub fn add_purge_listener(&self, listener: Arc<dyn PurgeListener>) {
        self.inner.listeners.rcu(|old| {
            let mut v = Vec::clone(old);
            v.push(listener.clone());
            v
        });
    }

    /// Registers `index` to name the keys of a tag for [`purge_tag`](Self::purge_tag).
    pub fn add_tag_index(&self, index: Arc<dyn TagIndex>) {
        self.inner.tag_indexes.rcu(|old| {
            let mut v = Vec::clone(old);
            v.push(index.clone());
            v
        });
    }

    /// The registered tag indexes.
    pub(crate) fn tag_indexes(&self) -> Arc<Vec<Arc<dyn TagIndex>>> {
        self.inner.tag_indexes.load_full()
    }

    /// The Redis tier, for the response cache that shares this engine's Redis.
    pub(crate) fn redis_tier(&self) -> Option<Arc<RedisTier>> {
        self.inner.redis.clone()
    }

    /// Hands every message on the Redis pub/sub `channel` to `handler`, on the purge
    /// subscriber's connection. Only before the subscriber starts
    /// ([`start_background`](Self::start_background)); `false` without Redis or too late.
    pub fn subscribe(&self, channel: &str, handler: ChannelHandler) -> bool {
        // Held while registering, so the subscriber cannot start in between.
        let Ok(bg) = self.inner.background.lock() else {
            return false;
        };
        if self.inner.redis.is_none() || bg.is_some() {
            return false;
        }
        match self.inner.extra.lock() {
            Ok(mut e) => e.push((channel.to_string(), handler)),
            Err(p) => p.into_inner().push((channel.to_string(), handler)),
        }
        drop(bg);
        true
    }

    /// Publishes `msg` on `channel` through the request path's connection (bounded by the
    /// Redis `timeout`, behind the circuit breaker). Without Redis it is an error.
    pub async fn publish(&self, channel: &str, msg: &str) -> Result<(), PublishError> {
        let Some(r) = &self.inner.redis else {
            return Err(PublishError::NoRedis);
        };
        let cmd = redis::cmd("PUBLISH").arg(channel).arg(msg).clone();
        r.query::<i64>(cmd)
            .await
            .map(|_| ())
            .map_err(|e| PublishError::Redis(e.to_string()))
    }

    /// The engine's name (`-` when built with [`new`](Self::new)).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// Whether this engine has a Redis tier (purges then reach every node).
    pub fn has_redis(&self) -> bool {
        self.inner.redis.is_some()
    }

    /// Whether the purge subscriber is currently subscribed.
    pub fn is_subscribed(&self) -> bool {
        self.inner.sub.subscribed.load(Ordering::SeqCst)
    }

    /// Whether the Redis circuit breaker is open (Redis bypassed); `false` without Redis.
    pub fn breaker_open(&self) -> bool {
        self.inner.redis.as_ref().is_some_and(|r| r.breaker_open())
    }

    /// Whether L1 would answer `key` as fresh right now (diagnostics and tests).
    pub async fn l1_fresh(&self, key: &str) -> bool {
        self.inner.l1.has_fresh(key).await
    }

    /// Approximate bytes held by L1 (diagnostics and tests).
    pub async fn l1_weighted_size(&self) -> u64 {
        self.inner.l1.weighted_size().await
    }
}
