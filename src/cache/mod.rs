//! Tiered lookup engine: L1 in-process (moka) → L2 Redis (single or Cluster) → L3 origin.
//!
//! ```text
//! get(key) ─► L1 fresh? ─► L1
//!             └► single flight per key on this node:
//!                L2 fresh? ─► write L1 ─► L2
//!                rebuild lock (SET NX PX) won? ─► origin ─► write L2, L1 ─► ORIGIN
//!                lost? poll L2 up to lock_wait, else load ourselves
//!                origin failed? stale copy (L1 or L2, within grace) ─► STALE, else error
//! ```
//! Redis calls are bounded by a timeout and a circuit breaker; Redis trouble only ever
//! costs a trip to the origin. Purges delete in Redis and reach every node's L1 over
//! pub/sub (see [`purge`](TieredCache::purge)).
//!
//! ```no_run
//! use std::time::Duration;
//! use edgeproxy::cache::{CacheSpec, HttpOrigin, HttpOriginLimits, RedisMode, RedisSpec,
//!                        TieredCache, Ttls};
//!
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let spec = CacheSpec {
//!     l1_capacity_bytes: 64 << 20,
//!     redis: Some(RedisSpec::new(RedisMode::Single("redis://127.0.0.1:6379/".into()))),
//! };
//! let cache = TieredCache::new(spec); // no I/O yet: fine under `edgeproxy -t`
//! let origin = HttpOrigin::new(|| Some(([127, 0, 0, 1], 8080).into()), HttpOriginLimits::default())?;
//! let ttls = Ttls {
//!     fresh: Duration::from_secs(60),
//!     negative: Duration::from_secs(10),
//!     stale_grace: Duration::from_secs(300),
//! };
//! let hit = cache.get("/product/42", &ttls, &origin).await?;
//! println!("X-Cache: {} ({:?} bytes)", hit.level.as_str(), hit.value.map(|v| v.len()));
//! # Ok(()) }
//! ```

mod coalesce;
mod derived;
mod engine;
mod entry;
mod l1;
mod level;
mod load;
pub(crate) mod lock;
mod metrics;
mod origin;
mod purge;
mod redis;
mod service;
mod spec;
mod subscriber;
mod tags;

pub(crate) use coalesce::SingleFlight;
pub use derived::{Derived, Version};
pub use engine::{CacheError, Lookup, PublishError, TieredCache};
pub use level::CacheLevel;
pub use origin::{HttpOrigin, HttpOriginLimits, LoadError, Loaded, Loader, PeerFn};
pub use purge::{PurgeError, PurgeReport, PurgeStep};
pub(crate) use redis::RedisTier;
pub use service::CacheSubscribers;
pub use subscriber::{ChannelHandler, PurgeListener, Purged};
pub use tags::{TagIndex, TagPurgeReport};
/// All tiered cache engines of a config, by name (`[caches.NAME]`).
pub type Caches = std::sync::Arc<std::collections::BTreeMap<String, TieredCache>>;

pub use spec::{CacheSpec, RedisMode, RedisSpec, SeedSource, Ttls};
