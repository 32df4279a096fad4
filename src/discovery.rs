//! Live upstream membership: the first Consul read at start-up, and one Pingora background
//! service that runs every group's watcher (one per prefix for the whole process) and logs
//! each group's state periodically.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tracing::{info, warn};

use crate::upstream::{initial_members, ConsulError, ConsulWatcher, Upstreams, WatchStatus};

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

/// The background service running all watchers.
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
            let members: Vec<String> = self
                .upstreams
                .get(name)
                .map(|g| {
                    g.members()
                        .iter()
                        .map(|m| {
                            format!(
                                "{} w={}{}",
                                m.addr,
                                m.weight,
                                if m.down { " down" } else { "" }
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            info!(
                group = %name,
                index = s.last_index,
                last_success_age_ms = age_ms(s.last_success_unix_ms),
                consecutive_errors = s.consecutive_errors,
                members = ?members,
                "upstream group status"
            );
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
        let tasks: Vec<_> = watchers
            .into_iter()
            .map(|w| tokio::spawn(w.run()))
            .collect();
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
