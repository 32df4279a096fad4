//! The purge subscriber: every node listens on the purge channel and drops the purged
//! keys from its L1.
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
