//! Invalidation beyond this node's L1: delete in Redis, then broadcast over pub/sub so that
//! every node drops the keys from its L1 (see `subscriber.rs` for the receiving side).
//!
//! The two steps are independent: the broadcast is sent whatever the delete's outcome (a
//! failed delete must not leave every other node serving its L1 copy), and the report
//! says which step failed. A purge is bounded as a whole by `purge_timeout`: the delete
//! gets the first half of it, the broadcast the rest (at least half). The delete comes
//! first so that a node dropping its L1 copy does not refill it from Redis's old value.
//! Purges use their own connection, whose response timeout is `purge_timeout` (the
//! request-path connection gives up after `timeout`), and are not turned away by the
//! request path's circuit breaker: an operator's purge is always attempted.
//!
//! The broadcast is confirmed: the message carries a token (`a:<token>:k:<key>`), every
//! edgeproxy subscriber publishes the token on `<purge_channel>:ack` once it has applied the
//! purge, and the purge waits (within `purge_timeout`) for as many confirmations as there
//! are confirming subscribers (`PUBSUB NUMSUB <purge_channel>:confirming`, which each of
//! them subscribes to; other listeners on the channel are not waited for). So when a purge
//! returns complete, no node (nor a distribution node's first-hop store) serves the purged keys
//! any more. With Redis Cluster, only the subscribers of the first node are counted.

use futures::StreamExt;
use tokio::time::{timeout_at, Instant};

use super::redis::{Conn, RedisFail, RedisTier};
use super::spec::RedisMode;

/// What is purged.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Target<'a> {
    /// One key.
    Key(&'a str),
    /// Every key starting with this prefix.
    Prefix(&'a str),
}

impl Target<'_> {
    fn text(&self) -> &str {
        match self {
            Target::Key(k) | Target::Prefix(k) => k,
        }
    }
}

/// A step of a purge beyond this node's L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PurgeStep {
    /// `DEL` in Redis (for a prefix: `SCAN` + `DEL`, on every master of a cluster).
    RedisDelete,
    /// `PUBLISH` on the purge channel, telling every node to drop it from its L1.
    Broadcast,
}

impl std::fmt::Display for PurgeStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PurgeStep::RedisDelete => "redis delete",
            PurgeStep::Broadcast => "broadcast",
        })
    }
}

/// Why one step of a purge failed (this node's L1 was purged regardless).
#[derive(Debug, Clone, thiserror::Error)]
#[error("{step} of {what:?} failed: {reason}")]
pub struct PurgeError {
    /// The step that failed.
    pub step: PurgeStep,
    /// The key or prefix.
    pub what: String,
    /// What failed.
    pub reason: String,
}

/// What a purge reached. This node's L1 is always purged (first); without Redis that is
/// the whole purge and both steps are `None`.
#[derive(Debug, Default)]
pub struct PurgeReport {
    /// The Redis delete; `None` without Redis.
    pub redis_delete: Option<Result<(), PurgeError>>,
    /// Redis keys deleted (a prefix purge that failed half-way: those deleted before).
    pub redis_keys_deleted: u64,
    /// The broadcast to every node's L1; `None` without Redis.
    pub broadcast: Option<Result<(), PurgeError>>,
}

impl PurgeReport {
    /// Whether every step succeeded.
    pub fn complete(&self) -> bool {
        self.errors().next().is_none()
    }

    /// The failed steps, delete first.
    pub fn errors(&self) -> impl Iterator<Item = &PurgeError> {
        [&self.redis_delete, &self.broadcast]
            .into_iter()
            .filter_map(|s| s.as_ref().and_then(|r| r.as_ref().err()))
    }

    /// The Redis keys deleted when every step succeeded, else the first failure.
    pub fn result(self) -> Result<u64, PurgeError> {
        match self.errors().next() {
            Some(e) => Err(e.clone()),
            None => Ok(self.redis_keys_deleted),
        }
    }
}

/// Deletes `target` in Redis, then broadcasts it, within `purge_timeout` in all.
pub(crate) async fn purge(r: &RedisTier, target: Target<'_>) -> PurgeReport {
    let bound = r.spec().purge_timeout;
    let start = Instant::now();
    let fail = |step, reason: String| PurgeError {
        step,
        what: target.text().to_string(),
        reason,
    };

    let mut deleted = 0;
    let half = bound / 2;
    let delete = match timeout_at(start + half, delete(r, target, &mut deleted)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(fail(PurgeStep::RedisDelete, e.to_string())),
        Err(_) => Err(fail(
            PurgeStep::RedisDelete,
            format!("no answer from redis within {half:?} (the delete's half of purge_timeout)"),
        )),
    };
    let token = format!("{:016x}", rand::random::<u64>());
    let msg = match target {
        Target::Key(k) => format!("a:{token}:k:{k}"),
        Target::Prefix(p) => format!("a:{token}:p:{p}"),
    };
    let broadcast = match timeout_at(start + bound, confirmed(r, &msg, &token, start + bound)).await
    {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(fail(PurgeStep::Broadcast, e)),
        Err(_) => Err(fail(
            PurgeStep::Broadcast,
            format!("no answer from redis before purge_timeout ({bound:?}) ran out"),
        )),
    };
    let report = PurgeReport {
        redis_delete: Some(delete),
        redis_keys_deleted: deleted,
        broadcast: Some(broadcast),
    };
    for e in report.errors() {
        tracing::warn!(error = %e, "cache: purge step failed");
    }
    report
}

/// The Redis part: `DEL` of one key, or `SCAN` + `DEL` for a prefix; counts into `deleted`
/// as it goes, so a prefix purge cut short still says how far it got.
async fn delete(r: &RedisTier, target: Target<'_>, deleted: &mut u64) -> Result<(), RedisFail> {
    let mut conn = r.purge_conn().await?;
    let prefix = match target {
        Target::Key(key) => {
            let del = redis::cmd("DEL").arg(r.key(key)).clone();
            *deleted += del.query_async::<u64>(&mut conn).await?;
            return Ok(());
        }
        Target::Prefix(p) => p,
    };
    let pattern = format!("{}*", glob_escape(&r.key(prefix)));
    match r.spec().mode {
        RedisMode::Single(_) => {
            let keys = scan(&mut conn, &pattern).await?;
            for chunk in keys.chunks(256) {
                let del = redis::cmd("DEL").arg(chunk).clone();
                *deleted += del.query_async::<u64>(&mut conn).await?;
            }
        }
        RedisMode::Cluster(_) => {
            for addr in masters(&mut conn).await? {
                let client = redis::Client::open(format!("redis://{addr}/"))?;
                let mut node = client.get_multiplexed_async_connection().await?;
                for k in scan(&mut node, &pattern).await? {
                    // One key per DEL: keys of one prefix live in different slots.
                    let del = redis::cmd("DEL").arg(k).clone();
                    *deleted += del.query_async::<u64>(&mut conn).await?;
                }
            }
        }
    }
    Ok(())
}

/// The channel subscribers confirm applied purges on.
pub(crate) fn ack_channel(purge_channel: &str) -> String {
    format!("{purge_channel}:ack")
}

/// The channel every confirming subscriber also subscribes to: `PUBSUB NUMSUB` of it says
/// how many confirmations to expect (other listeners on the purge channel, or nodes of an
/// older version, do not confirm and are not waited for).
pub(crate) fn confirming_channel(purge_channel: &str) -> String {
    format!("{purge_channel}:confirming")
}

/// Publishes `msg` and waits until every confirming subscriber it reached confirmed
/// `token`, or `deadline`. Subscribers, the count and the publish all go through the first
/// node (with Redis Cluster, subscribers of other nodes are not counted).
async fn confirmed(r: &RedisTier, msg: &str, token: &str, deadline: Instant) -> Result<(), String> {
    let channel = &r.spec().purge_channel;
    let url = r.node_urls().into_iter().next().unwrap_or_default();
    let client = redis::Client::open(url).map_err(|e| e.to_string())?;
    let mut acks = client.get_async_pubsub().await.map_err(|e| e.to_string())?;
    acks.subscribe(ack_channel(channel))
        .await
        .map_err(|e| e.to_string())?;
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .map_err(|e| e.to_string())?;
    let numsub = redis::cmd("PUBSUB")
        .arg("NUMSUB")
        .arg(confirming_channel(channel))
        .clone();
    let counts: Vec<(String, i64)> = numsub
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let confirming = counts.first().map_or(0, |c| c.1);
    let publish = redis::cmd("PUBLISH").arg(channel).arg(msg).clone();
    let reached: i64 = publish
        .query_async(&mut conn)
        .await
        .map_err(|e| e.to_string())?;
    let expected = confirming.min(reached);
    let mut stream = acks.on_message();
    let mut confirmed = 0;
    while confirmed < expected {
        match timeout_at(deadline, stream.next()).await {
            Ok(Some(m)) if m.get_payload::<String>().ok().as_deref() == Some(token) => {
                confirmed += 1
            }
            Ok(Some(_)) => {}
            Ok(None) | Err(_) => break,
        }
    }
    match confirmed < expected {
        true => Err(format!(
            "sent to {expected} confirming subscriber(s), {confirmed} confirmed before purge_timeout ran out"
        )),
        false => Ok(()),
    }
}

async fn scan<C: redis::aio::ConnectionLike>(
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
        let (next, batch): (u64, Vec<String>) = cmd.query_async(conn).await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// `host:port` of every master, from `CLUSTER SLOTS`.
async fn masters(conn: &mut Conn) -> Result<Vec<String>, RedisFail> {
    let slots: Vec<redis::Value> = redis::cmd("CLUSTER").arg("SLOTS").query_async(conn).await?;
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
