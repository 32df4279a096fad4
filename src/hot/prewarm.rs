//! Prewarming: when a key turns hot, this node asks every live member of the group for it
//! once, with the target and `Host` of the first request that saw it hot. Each member
//! answers through its normal cache path, so its L1 ends up holding the key; across the
//! cluster the tiered cache's rebuild lock and Redis make that one origin fetch (the key's
//! hash node usually has it already, the others read it from Redis).

use std::sync::Arc;
use std::time::Duration;

use crate::upstream::{PeerState, UpstreamGroup};

use super::metrics::HotMetrics;

/// The header that marks prewarm requests (for the application tier's logs).
pub const HEADER: &str = "x-edgeproxy-prewarm";

/// An HTTP client for prewarm requests: no connection pool (they are rare, and the
/// request path's runtimes come and go), bounded by the group's timeouts.
pub fn client(connect: Duration, read: Duration) -> Option<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(connect + read)
        .pool_max_idle_per_host(0)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()
}

/// What to request.
pub struct Prewarm {
    /// The hot key (for the log).
    pub key: String,
    /// `Host` of the request that saw it hot.
    pub host: Option<String>,
    /// Its path and query.
    pub target: String,
}

/// Requests `p.target` from every member of `group` that is up; logs and counts.
pub async fn run(
    client: reqwest::Client,
    group: Arc<UpstreamGroup>,
    metrics: Arc<HotMetrics>,
    p: Prewarm,
) {
    let members: Vec<_> = group
        .members()
        .iter()
        .filter(|m| !m.down && group.peer_state(m.addr) == Some(PeerState::Up))
        .map(|m| m.addr)
        .collect();
    let sends = members.iter().map(|addr| {
        let mut req = client
            .get(format!("http://{addr}{}", p.target))
            .header(HEADER, "1");
        if let Some(h) = &p.host {
            req = req.header("host", h);
        }
        async move {
            match req.send().await {
                Ok(r) => r.bytes().await.map(|_| ()).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            }
        }
    });
    let results = futures::future::join_all(sends).await;
    let mut ok = 0;
    for (addr, r) in members.iter().zip(&results) {
        match r {
            Ok(()) => {
                ok += 1;
                metrics.prewarm_ok.inc();
            }
            Err(e) => {
                metrics.prewarm_failed.inc();
                tracing::warn!(group = %group.name(), key = %p.key, %addr, "hot: prewarm failed: {e}");
            }
        }
    }
    tracing::info!(
        group = %group.name(), key = %p.key, target = %p.target,
        "hot: prewarmed on {ok} of {} member(s)", members.len()
    );
}
