//! The response L2: the cache's Redis (single or Cluster, through the page cache's
//! [`RedisTier`] with its timeout and circuit breaker), and the cross-node fill lock.
//!
//! Keys: `<key_prefix><cache key>` for an object (so the admin API's purge by key and by
//! prefix, which delete those Redis keys, reach it), `<key_prefix>tag:<tag>` for the set of
//! cache keys carrying a tag, `<key_prefix>lock:<cache key>` for the fill lock (the page
//! cache's rebuild lock, [`crate::cache::lock`]). Every failure is a miss: Redis trouble
//! only ever costs a trip to the origin.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::debug;

use super::object::Object;
use crate::cache::RedisTier;

/// How often a node that lost the fill lock looks for the winner's object.
const POLL: Duration = Duration::from_millis(20);

/// The Redis side of one response cache.
#[derive(Clone)]
pub struct L2 {
    redis: Arc<RedisTier>,
}

impl L2 {
    /// The tier over `redis`.
    pub fn new(redis: Arc<RedisTier>) -> Self {
        L2 { redis }
    }

    /// The object under `key`, if Redis answers with one.
    pub async fn get(&self, key: &str) -> Option<Object> {
        let cmd = redis::cmd("GET").arg(self.redis.key(key)).clone();
        match self.redis.query::<Option<Vec<u8>>>(cmd).await {
            Ok(v) => v.and_then(|raw| Object::decode(Bytes::from(raw))),
            Err(e) => {
                debug!(key, error = %e, "http cache: redis get failed (a miss)");
                None
            }
        }
    }

    /// Stores `object` under `key` until it is no longer kept, and adds `key` to its tags'
    /// sets. Failures are logged only.
    pub async fn put(&self, key: &str, object: &Object) {
        let ttl_ms = object.ttl().as_millis().max(1) as u64;
        let set = redis::cmd("SET")
            .arg(self.redis.key(key))
            .arg(object.encode())
            .arg("PX")
            .arg(ttl_ms)
            .clone();
        if let Err(e) = self.redis.query::<()>(set).await {
            debug!(key, error = %e, "http cache: redis set failed");
            return;
        }
        for tag in object.tags.iter() {
            let tag_key = self.tag_key(tag);
            let add = redis::cmd("SADD").arg(&tag_key).arg(key).clone();
            let expire = redis::cmd("PEXPIRE")
                .arg(&tag_key)
                .arg(ttl_ms)
                .arg("GT")
                .clone();
            if self.redis.query::<i64>(add).await.is_ok() {
                // A new set has no TTL, and `GT` never sets one from nothing: set it plainly.
                let plain = redis::cmd("PEXPIRE")
                    .arg(&tag_key)
                    .arg(ttl_ms)
                    .arg("NX")
                    .clone();
                let _ = self.redis.query::<i64>(plain).await;
                let _ = self.redis.query::<i64>(expire).await;
            }
        }
    }

    /// The cache keys stored with `tag` (by any node), dropping the set.
    pub async fn take_tagged(&self, tag: &str) -> Result<Vec<String>, String> {
        let tag_key = self.tag_key(tag);
        let members = redis::cmd("SMEMBERS").arg(&tag_key).clone();
        let keys: Vec<String> = self.redis.query(members).await.map_err(|e| e.to_string())?;
        let _ = self
            .redis
            .query::<i64>(redis::cmd("DEL").arg(&tag_key).clone())
            .await;
        Ok(keys)
    }

    fn tag_key(&self, tag: &str) -> String {
        self.redis.key(&format!("tag:{tag}"))
    }

    /// Takes the cross-node fill lock of `key` for `token`: `true` when this node fills.
    /// Redis failing counts as taken (fetch from the origin, as without Redis).
    pub async fn lock(&self, key: &str, token: &str) -> bool {
        crate::cache::lock::try_acquire(&self.redis, key, token)
            .await
            .unwrap_or(true)
    }

    /// Releases the fill lock of `key` if `token` still holds it.
    pub async fn unlock(&self, key: &str, token: &str) {
        crate::cache::lock::release(&self.redis, key, token).await;
    }

    /// Waits (up to the cache's `lock_wait`) for another node's fill of `key` to land in
    /// Redis; `None` when it does not in time (then this node fetches it itself).
    pub async fn wait_for_fill(&self, key: &str) -> Option<Object> {
        let deadline = tokio::time::Instant::now() + self.redis.spec().lock_wait;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(POLL).await;
            if let Some(o) = self.get(key).await {
                return Some(o);
            }
        }
        None
    }
}
