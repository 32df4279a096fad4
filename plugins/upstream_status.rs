//! `upstream-status`: content phase; JSON of every upstream group: balancing, members with
//! their weight, flags, health, failure counts and last error, and for Consul-backed groups the watcher's state.
//!
//! ```toml
//! { name = "upstream-status" }
//! ```
//!
//! ```json
//! {"upstreams": {"app": {"balance": "hash", "hash_key": "$arg_productId",
//!   "members": [{"addr": "10.0.0.1:8080", "weight": 1, "max_fails": 2,
//!                "fail_timeout_ms": 10000, "down": false, "backup": false, "health": "up",
//!                "failures": {"passive": 3, "connect": 3, "check": 0},
//!                "last_error": {"message": "connect to 10.0.0.1:8080 failed: ...",
//!                               "ago_ms": 1234}}],
//!   "consul": {"address": "http://127.0.0.1:8500", "prefix": "upstreams/app/",
//!              "watch": {"last_index": 12, "last_success_age_ms": 850, ...}}}}}
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{
    BalanceSpec, FailureSnapshot, LastError, PeerState, UpstreamGroup, Upstreams, WatchSnapshot,
};
use edgeproxy::kit::{BoxError, Plugin, PluginFactory, RequestCtx, Response, Shared};
use serde::{Deserialize, Serialize};

use crate::support::admin_response;

/// Config of the `upstream-status` plugin (no options yet; unknown keys are rejected).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamStatusConfig {}

/// The `upstream-status` plugin.
pub struct UpstreamStatus {
    upstreams: Upstreams,
}

/// The whole answer.
#[derive(Serialize)]
pub struct StatusDoc {
    /// Every group, by name.
    pub upstreams: BTreeMap<String, GroupDoc>,
}

/// One group.
#[derive(Serialize)]
pub struct GroupDoc {
    /// `round_robin` or `hash`.
    pub balance: &'static str,
    /// The hash key template (hash groups).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_key: Option<String>,
    /// The fallback key template (hash groups that declare one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_fallback: Option<String>,
    /// Current members.
    pub members: Vec<MemberDoc>,
    /// Consul discovery, for groups that follow Consul KV.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub consul: Option<ConsulDoc>,
}

/// One member.
#[derive(Serialize)]
pub struct MemberDoc {
    /// `ip:port`.
    pub addr: String,
    /// Relative weight.
    pub weight: u32,
    /// Failures within `fail_timeout` that take it out (0 = never).
    pub max_fails: u32,
    /// Failure window and time out, in ms.
    pub fail_timeout_ms: u64,
    /// Marked down by the operator.
    pub down: bool,
    /// Used only when no primary is available.
    pub backup: bool,
    /// `up`, `passively_down` (max_fails reached) or `actively_down` (health checks).
    pub health: &'static str,
    /// Failures since start (kept while the address stays a member).
    pub failures: FailuresDoc,
    /// The last error of a connection or a health check; `null` if there was none.
    pub last_error: Option<LastErrorDoc>,
}

/// Failure counts of one member since start.
#[derive(Serialize, Default)]
pub struct FailuresDoc {
    /// Failures passive health counted toward `max_fails` (none in a group of one server).
    pub passive: u64,
    /// Failed connection attempts.
    pub connect: u64,
    /// Failed active health checks.
    pub check: u64,
}

/// The last error of one member.
#[derive(Serialize)]
pub struct LastErrorDoc {
    /// What went wrong (at most 256 bytes, then `…`).
    pub message: String,
    /// Milliseconds since it happened.
    pub ago_ms: u64,
}

impl LastErrorDoc {
    fn new(e: LastError) -> Self {
        LastErrorDoc {
            message: e.message,
            ago_ms: e.ago.as_millis() as u64,
        }
    }
}

fn failures(f: Option<FailureSnapshot>) -> (FailuresDoc, Option<LastErrorDoc>) {
    let Some(f) = f else {
        return (FailuresDoc::default(), None);
    };
    let counts = FailuresDoc {
        passive: f.passive,
        connect: f.connect,
        check: f.check,
    };
    (counts, f.last_error.map(LastErrorDoc::new))
}

/// Consul discovery of one group. The ACL token is never shown.
#[derive(Serialize)]
pub struct ConsulDoc {
    /// Consul HTTP address.
    pub address: String,
    /// KV prefix watched.
    pub prefix: String,
    /// The watcher's state; `null` until the discovery service prepared it.
    pub watch: Option<WatchDoc>,
}

/// A Consul watcher's state.
#[derive(Serialize)]
pub struct WatchDoc {
    /// `X-Consul-Index` the next blocking query waits on.
    pub last_index: u64,
    /// Milliseconds since the last successful read; `null` = never.
    pub last_success_age_ms: Option<u64>,
    /// Milliseconds since the last applied membership change; `null` = never.
    pub last_change_age_ms: Option<u64>,
    /// Errors since the last successful read.
    pub consecutive_errors: u64,
    /// Errors since start.
    pub total_errors: u64,
    /// The last error, cleared by a successful read.
    pub last_error: Option<String>,
    /// Reads sent to Consul.
    pub requests: u64,
    /// Membership changes applied.
    pub changes: u64,
}

fn age_ms(unix_ms: u64, now_ms: u64) -> Option<u64> {
    (unix_ms > 0).then(|| now_ms.saturating_sub(unix_ms))
}

impl WatchDoc {
    /// The document for `s`, with ages relative to `now_ms` (Unix ms).
    pub fn new(s: WatchSnapshot, now_ms: u64) -> Self {
        WatchDoc {
            last_index: s.last_index,
            last_success_age_ms: age_ms(s.last_success_unix_ms, now_ms),
            last_change_age_ms: age_ms(s.last_change_unix_ms, now_ms),
            consecutive_errors: s.consecutive_errors,
            total_errors: s.total_errors,
            last_error: s.last_error,
            requests: s.requests,
            changes: s.changes,
        }
    }
}

fn health(state: Option<PeerState>) -> &'static str {
    match state {
        Some(PeerState::Up) => "up",
        Some(PeerState::PassivelyDown) => "passively_down",
        Some(PeerState::ActivelyDown) => "actively_down",
        None => "unknown",
    }
}

impl GroupDoc {
    /// The document for `g` now.
    pub fn new(g: &UpstreamGroup, now_ms: u64) -> Self {
        let spec = g.spec();
        let (balance, hash_key, hash_fallback) = match &spec.balance {
            BalanceSpec::RoundRobin => ("round_robin", None, None),
            BalanceSpec::Hash(h) => (
                "hash",
                Some(h.key.as_str().to_string()),
                h.fallback.as_ref().map(|f| f.as_str().to_string()),
            ),
        };
        let members = g
            .members()
            .iter()
            .map(|m| {
                let (failures, last_error) = failures(g.peer_failures(m.addr));
                MemberDoc {
                    addr: m.addr.to_string(),
                    weight: m.weight,
                    max_fails: m.max_fails,
                    fail_timeout_ms: m.fail_timeout.as_millis() as u64,
                    down: m.down,
                    backup: m.backup,
                    health: health(g.peer_state(m.addr)),
                    failures,
                    last_error,
                }
            })
            .collect();
        let consul = spec.consul.as_ref().map(|c| ConsulDoc {
            address: c.address.clone(),
            prefix: c.prefix.clone(),
            watch: g
                .watch_status()
                .map(|w| WatchDoc::new(w.snapshot(), now_ms)),
        });
        GroupDoc {
            balance,
            hash_key,
            hash_fallback,
            members,
            consul,
        }
    }
}

impl UpstreamStatus {
    /// A plugin reporting on `upstreams`.
    pub fn new(upstreams: Upstreams) -> Self {
        UpstreamStatus { upstreams }
    }

    /// The status document now.
    pub fn document(&self) -> StatusDoc {
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        StatusDoc {
            upstreams: self
                .upstreams
                .iter()
                .map(|(name, g)| (name.clone(), GroupDoc::new(g, now_ms)))
                .collect(),
        }
    }
}

impl PluginFactory for UpstreamStatus {
    const NAME: &'static str = "upstream-status";
    type Config = UpstreamStatusConfig;

    fn build(_cfg: UpstreamStatusConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        Ok(Arc::new(UpstreamStatus::new(shared.upstreams.clone())))
    }
}

#[async_trait]
impl Plugin for UpstreamStatus {
    async fn content(
        &self,
        req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        admin_response::status_document(req, || self.document())
    }
}

#[cfg(test)]
#[path = "upstream_status_tests.rs"]
mod tests;
