//! Invalidation: delete in Redis and broadcast over pub/sub so that every node drops the
//! keys from its L1.
//!
//! Messages on the purge channel are `k:<key>` or `p:<prefix>`. On a cluster, PUBLISH is
//! propagated to every node by Redis itself, so the subscriber holds a plain connection to
//! one node (the first reachable of the configured ones) and the publisher uses the cluster
//! connection. A subscriber that loses its connection demotes the whole L1 to stale (it may
//! have missed purges: nothing is served as fresh from L1 any more, but stale-if-error can
//! still use the entries), and does so again once resubscribed. A frozen Redis keeps the
//! TCP connection open and is not noticed by the subscriber.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::l1::L1;
use super::redis::{Conn, RedisFail, RedisTier};
use super::spec::RedisMode;

/// Why a purge could not reach Redis (the local L1 was purged regardless).
#[derive(Debug, thiserror::Error)]
#[error("purge of {what:?} reached only this node's L1: {reason}")]
pub struct PurgeError {
    /// The key or prefix.
    pub what: String,
    /// What failed.
    pub reason: String,
}

impl PurgeError {
    fn new(what: &str, reason: impl std::fmt::Display) -> Self {
        PurgeError {
            what: what.to_string(),
            reason: reason.to_string(),
        }
    }
}

/// Bound of each step of a purge (not on the request path, so more generous).
fn step_timeout(r: &RedisTier) -> Duration {
    r.spec().timeout.max(Duration::from_secs(1))
}

async fn bounded<T>(
    r: &RedisTier,
    f: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, RedisFail> {
    let t = step_timeout(r);
    match tokio::time::timeout(t, f).await {
        Ok(res) => Ok(res?),
        Err(_) => Err(RedisFail::Timeout(t)),
    }
}

/// Deletes `key` in Redis and broadcasts its removal.
pub async fn purge_key(r: &RedisTier, key: &str) -> Result<(), PurgeError> {
    let mut conn = r.conn().await.map_err(|e| PurgeError::new(key, e))?;
    let del = redis::cmd("DEL").arg(r.key(key)).clone();
    bounded(r, del.query_async::<i64>(&mut conn))
        .await
        .map_err(|e| PurgeError::new(key, e))?;
    publish(r, &mut conn, &format!("k:{key}"))
        .await
        .map_err(|e| PurgeError::new(key, e))
}

/// Deletes every Redis key under `prefix` (SCAN + DEL, on each master of a cluster) and
/// broadcasts the prefix removal. Returns how many Redis keys were deleted.
pub async fn purge_prefix(r: &RedisTier, prefix: &str) -> Result<u64, PurgeError> {
    let err = |e: RedisFail| PurgeError::new(prefix, e);
    let mut conn = r.conn().await.map_err(err)?;
    let pattern = format!("{}*", glob_escape(&r.key(prefix)));
    let mut deleted = 0;
    match r.spec().mode {
        RedisMode::Single(_) => {
            let keys = scan(r, &mut conn, &pattern).await.map_err(err)?;
            for chunk in keys.chunks(256) {
                let del = redis::cmd("DEL").arg(chunk).clone();
                deleted += bounded(r, del.query_async::<u64>(&mut conn))
                    .await
                    .map_err(err)?;
            }
        }
        RedisMode::Cluster(_) => {
            for addr in masters(r, &mut conn).await.map_err(err)? {
                let client =
                    redis::Client::open(format!("redis://{addr}/")).map_err(|e| err(e.into()))?;
                let mut node = bounded(r, client.get_multiplexed_async_connection())
                    .await
                    .map_err(err)?;
                for k in scan(r, &mut node, &pattern).await.map_err(err)? {
                    // One key per DEL: keys of one prefix live in different slots.
                    let del = redis::cmd("DEL").arg(k).clone();
                    deleted += bounded(r, del.query_async::<u64>(&mut conn))
                        .await
                        .map_err(err)?;
                }
            }
        }
    }
    publish(r, &mut conn, &format!("p:{prefix}"))
        .await
        .map_err(err)?;
    Ok(deleted)
}

async fn publish(r: &RedisTier, conn: &mut Conn, msg: &str) -> Result<(), RedisFail> {
    let cmd = redis::cmd("PUBLISH")
        .arg(&r.spec().purge_channel)
        .arg(msg)
        .clone();
    bounded(r, cmd.query_async::<i64>(conn)).await.map(|_| ())
}

async fn scan<C: redis::aio::ConnectionLike>(
    r: &RedisTier,
    conn: &mut C,
    pattern: &str,
) -> Result<Vec<String>, RedisFail> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let cmd = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(500)
            .clone();
        let (next, batch): (u64, Vec<String>) = bounded(r, cmd.query_async(conn)).await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// `host:port` of every master, from `CLUSTER SLOTS`.
async fn masters(r: &RedisTier, conn: &mut Conn) -> Result<Vec<String>, RedisFail> {
    let slots: Vec<redis::Value> =
        bounded(r, redis::cmd("CLUSTER").arg("SLOTS").query_async(conn)).await?;
    let mut out = Vec::new();
    for s in slots {
        // Each entry: start, end, [ip, port, id, ...], replicas...
        let redis::Value::Array(items) = s else {
            continue;
        };
        if let Some(redis::Value::Array(master)) = items.get(2) {
            if let (Some(ip), Some(port)) = (master.first(), master.get(1)) {
                let ip: String = redis::from_redis_value(ip)?;
                let port: i64 = redis::from_redis_value(port)?;
                let addr = format!("{ip}:{port}");
                if !out.contains(&addr) {
                    out.push(addr);
                }
            }
        }
    }
    Ok(out)
}

fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Whether this node's subscriber currently listens.
#[derive(Debug, Default)]
pub struct SubState {
    /// True while subscribed.
    pub subscribed: AtomicBool,
}

/// Runs forever: subscribe, apply purge messages to `l1`, demote `l1` when the
/// subscription drops, reconnect with capped back-off.
pub async fn subscriber(
    urls: Vec<String>,
    channel: String,
    l1: L1,
    state: Arc<SubState>,
    connect_timeout: Duration,
) {
    let mut backoff = Duration::from_millis(50);
    let mut i = 0usize;
    loop {
        let url = &urls[i % urls.len().max(1)];
        i = i.wrapping_add(1);
        let attempt = async {
            let client = redis::Client::open(url.as_str())?;
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(&channel).await?;
            redis::RedisResult::Ok(ps)
        };
        match tokio::time::timeout(connect_timeout, attempt).await {
            Ok(Ok(ps)) => {
                // Purges may have been missed before this subscription existed.
                l1.demote_all();
                state.subscribed.store(true, Ordering::SeqCst);
                backoff = Duration::from_millis(50);
                tracing::info!(url = %url, channel = %channel, "cache: purge subscriber listening");
                let mut stream = ps.into_on_message();
                while let Some(msg) = stream.next().await {
                    let Ok(text) = msg.get_payload::<String>() else {
                        continue;
                    };
                    apply(&l1, &text).await;
                }
                state.subscribed.store(false, Ordering::SeqCst);
                l1.demote_all();
                tracing::warn!(url = %url, "cache: purge subscription dropped; L1 demoted to stale");
            }
            Ok(Err(e)) => {
                tracing::debug!(url = %url, error = %e, "cache: purge subscriber cannot connect")
            }
            Err(_) => tracing::debug!(url = %url, "cache: purge subscriber connect timed out"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn apply(l1: &L1, msg: &str) {
    if let Some(key) = msg.strip_prefix("k:") {
        l1.remove(key).await;
    } else if let Some(prefix) = msg.strip_prefix("p:") {
        l1.remove_prefix(prefix).await;
    } else {
        tracing::warn!(msg, "cache: unknown purge message; demoting L1 to stale");
        l1.demote_all();
    }
}
