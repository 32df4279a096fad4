//! Live upstream membership and health: the first Consul read at start-up, and one Pingora
//! background service that runs every group's watcher (one per prefix for the whole
//! process) and active health checker, and logs each group's state periodically.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tracing::{info, warn};

use super::{
    initial_members, run_health_checks, ConsulError, ConsulWatcher, PeerState, UpstreamGroup,
    Upstreams, WatchStatus,
};

/// Reads every Consul-backed group once (falling back to the dump file, then the static
/// servers) and prepares its watcher. Fails only for `strong_dependency` groups.
pub fn prepare(upstreams: &Upstreams) -> Result<Vec<ConsulWatcher>, ConsulError> {
    let groups: Vec<_> = upstreams
        .values()
        .filter(|g| g.spec().consul.is_some())
        .cloned()
        .collect();
    if groups.is_empty() {
        return Ok(Vec::new());
    }
    // Pingora's services own their runtimes; this short-lived one is gone before they start.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ConsulError::NotConfigured(format!("cannot start a runtime: {e}")))?;
    let mut watchers = Vec::new();
    for group in groups {
        let (members, index) = rt.block_on(initial_members(group.spec()))?;
        info!(
            group = group.name(),
            members = members.len(),
            index,
            "initial upstream members"
        );
        group.set_members(members);
        let watcher = ConsulWatcher::new(group.clone(), index)?;
        // Readable by the admin API (`upstream-status`) through the group.
        group.set_watch_status(watcher.status());
        watchers.push(watcher);
    }
    Ok(watchers)
}

/// Whether the discovery service has anything to do: Consul watchers or active checks.
pub fn needed(watchers: &[ConsulWatcher], upstreams: &Upstreams) -> bool {
    !watchers.is_empty() || upstreams.values().any(|g| g.spec().health_check.is_some())
}

/// One member for the status log: `addr w=N` plus ` down`, ` backup`, ` failed` (passive)
/// or ` check-down` (active).
fn describe_members(group: &UpstreamGroup) -> Vec<String> {
    group
        .members()
        .iter()
        .map(|m| {
            let health = match group.peer_state(m.addr) {
                Some(PeerState::PassivelyDown) => " failed",
                Some(PeerState::ActivelyDown) => " check-down",
                _ => "",
            };
            format!(
                "{} w={}{}{}{health}",
                m.addr,
                m.weight,
                if m.down { " down" } else { "" },
                if m.backup { " backup" } else { "" },
            )
        })
        .collect()
}

/// The background service running all watchers and health checkers.
pub struct DiscoveryService {
    watchers: Mutex<Vec<ConsulWatcher>>,
    statuses: Vec<(String, Arc<WatchStatus>)>,
    upstreams: Upstreams,
    status_every: Duration,
}

impl DiscoveryService {
    /// A service for `watchers`; logs group status every `status_every`.
    pub fn new(watchers: Vec<ConsulWatcher>, upstreams: Upstreams, status_every: Duration) -> Self {
        let statuses = watchers
            .iter()
            .map(|w| (w.group_name().to_string(), w.status()))
            .collect();
        DiscoveryService {
            watchers: Mutex::new(watchers),
            statuses,
            upstreams,
            status_every,
        }
    }

    fn log_status(&self) {
        for (name, status) in &self.statuses {
            let s = status.snapshot();
            let members = self.upstreams.get(name).map(|g| describe_members(g));
            info!(
                group = %name,
                index = s.last_index,
                last_success_age_ms = age_ms(s.last_success_unix_ms),
                consecutive_errors = s.consecutive_errors,
                members = ?members.unwrap_or_default(),
                "upstream group status"
            );
        }
        for g in self.upstreams.values() {
            if g.spec().consul.is_none() && g.spec().health_check.is_some() {
                info!(group = %g.name(), members = ?describe_members(g), "upstream group status");
            }
        }
    }
}

fn age_ms(unix_ms: u64) -> Option<u64> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    (unix_ms > 0).then(|| now.saturating_sub(unix_ms))
}

#[async_trait]
impl BackgroundService for DiscoveryService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let watchers = match self.watchers.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(_) => {
                warn!("discovery service started twice");
                return;
            }
        };
        let mut tasks: Vec<_> = watchers
            .into_iter()
            .map(|w| tokio::spawn(w.run()))
            .collect();
        for g in self.upstreams.values() {
            if g.spec().health_check.is_some() {
                tasks.push(tokio::spawn(run_health_checks(g.clone())));
            }
        }
        let mut tick = tokio::time::interval(self.status_every);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                _ = tick.tick() => self.log_status(),
            }
        }
        for t in tasks {
            t.abort();
        }
    }
}
