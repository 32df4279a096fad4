//! The purge subscriber: every node listens on the purge channel and drops the purged
//! keys from its L1 and from whatever else registered as a [`PurgeListener`] (the
//! distribution tier's first-hop store). The same connection carries the other channels
//! registered on the engine ([`TieredCache::subscribe`](super::TieredCache::subscribe):
//! hot-key reports).
//!
//! Messages on the purge channel are `k:<key>` or `p:<prefix>`. On a cluster, PUBLISH is
//! propagated to every node by Redis itself, so the subscriber holds a plain connection to
//! one node (the first reachable of the configured ones). A subscriber that loses its
//! connection demotes the whole L1 to stale (it may have missed purges: nothing is served
//! as fresh from L1 any more, but stale-if-error can still use the entries), and does so
//! again once resubscribed. A frozen Redis keeps the TCP connection open and is not noticed
//! by the subscriber.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;

use super::l1::L1;
use super::redis::RedisTier;

/// What a purge dropped, as a [`PurgeListener`] hears it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purged<'a> {
    /// One key.
    Key(&'a str),
    /// Every key starting with this prefix.
    Prefix(&'a str),
    /// Everything: purges may have been missed (the subscription dropped, or an unknown
    /// message arrived).
    All,
}

/// Something besides L1 that must forget purged keys (called synchronously, in order).
pub trait PurgeListener: Send + Sync {
    /// `what` was purged.
    fn purged(&self, what: Purged<'_>);
}

/// A handler of messages on an extra channel.
pub type ChannelHandler = Arc<dyn Fn(&str) + Send + Sync>;

/// Everything that hears purges: the L1 and the registered listeners.
#[derive(Clone)]
pub struct Hearers {
    /// This engine's L1.
    pub l1: L1,
    /// Registered listeners.
    pub listeners: Arc<arc_swap::ArcSwap<Vec<Arc<dyn PurgeListener>>>>,
}

impl Hearers {
    /// Applies a purge to L1 (whose `All` is a demotion to stale) and every listener.
    pub async fn apply(&self, what: Purged<'_>) {
        match what {
            Purged::Key(k) => self.l1.remove(k).await,
            Purged::Prefix(p) => self.l1.remove_prefix(p).await,
            Purged::All => self.l1.demote_all(),
        }
        for l in self.listeners.load().iter() {
            l.purged(what);
        }
    }
}

/// Whether this node's subscriber currently listens.
#[derive(Debug, Default)]
pub struct SubState {
    /// True while subscribed.
    pub subscribed: AtomicBool,
}

/// Runs forever: subscribe, apply purge messages to the hearers (and other channels'
/// messages to their handlers), demote everything when the subscription drops, reconnect
/// with capped back-off.
pub async fn subscriber(
    redis: Arc<RedisTier>,
    channel: String,
    hearers: Hearers,
    extra: Vec<(String, ChannelHandler)>,
    state: Arc<SubState>,
    connect_timeout: Duration,
) {
    let mut backoff = Duration::from_millis(50);
    let mut i = 0usize;
    let ack = super::purge::ack_channel(&channel);
    let confirming = super::purge::confirming_channel(&channel);
    loop {
        let urls = redis.node_urls();
        let Some(url) = urls.get(i % urls.len().max(1)) else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            continue;
        };
        i = i.wrapping_add(1);
        let attempt = async {
            let client = redis::Client::open(url.as_str())?;
            let mut ps = client.get_async_pubsub().await?;
            ps.subscribe(&channel).await?;
            // Announces that this subscriber confirms purges (see purge.rs).
            ps.subscribe(&confirming).await?;
            for (c, _) in &extra {
                ps.subscribe(c).await?;
            }
            redis::RedisResult::Ok(ps)
        };
        match tokio::time::timeout(connect_timeout, attempt).await {
            Ok(Ok(ps)) => {
                // Purges may have been missed before this subscription existed.
                hearers.apply(Purged::All).await;
                state.subscribed.store(true, Ordering::SeqCst);
                backoff = Duration::from_millis(50);
                tracing::info!(url = %url, channel = %channel, "cache: purge subscriber listening");
                let mut stream = ps.into_on_message();
                while let Some(msg) = stream.next().await {
                    let Ok(text) = msg.get_payload::<String>() else {
                        continue;
                    };
                    let on = msg.get_channel_name();
                    if on == confirming {
                        continue;
                    }
                    match extra.iter().find(|(c, _)| c == on) {
                        Some((_, handler)) => handler(&text),
                        None => apply(&hearers, &redis, &ack, &text).await,
                    }
                }
                state.subscribed.store(false, Ordering::SeqCst);
                hearers.apply(Purged::All).await;
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

/// Applies a purge message; one that asks for it (`a:<token>:...`) is confirmed on the
/// ack channel once applied.
async fn apply(hearers: &Hearers, tier: &RedisTier, ack: &str, msg: &str) {
    if let Some((token, purge)) = msg.strip_prefix("a:").and_then(|m| m.split_once(':')) {
        apply_one(hearers, purge).await;
        let cmd = redis::cmd("PUBLISH").arg(ack).arg(token).clone();
        if let Err(e) = tier.query::<i64>(cmd).await {
            tracing::warn!(error = %e, "cache: could not confirm a purge");
        }
        return;
    }
    apply_one(hearers, msg).await;
}

async fn apply_one(hearers: &Hearers, msg: &str) {
    if let Some(key) = msg.strip_prefix("k:") {
        hearers.apply(Purged::Key(key)).await;
    } else if let Some(prefix) = msg.strip_prefix("p:") {
        hearers.apply(Purged::Prefix(prefix)).await;
    } else {
        tracing::warn!(msg, "cache: unknown purge message; demoting L1 to stale");
        hearers.apply(Purged::All).await;
    }
}
