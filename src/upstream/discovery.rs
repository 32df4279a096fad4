//! Live upstream membership and health: the first Consul read at start-up, and one Pingora
//! background service that runs every group's watcher (one per prefix for the whole
//! process) and active health checker, and logs each group's state periodically.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tracing::info;

use super::{
    initial_members, run_health_checks, ConsulError, ConsulWatcher, PeerState, UpstreamGroup,
    Upstreams,
};
use crate::generation::tasks::{id_of, TaskSet};
use crate::generation::World;

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
    rt.block_on(prepare_groups(&groups))
}

/// [`prepare`] for `groups` (the Consul-backed ones among them), on the caller's runtime:
/// a reload in place reads the groups it builds new this way before they serve.
pub async fn prepare_groups(
    groups: &[Arc<UpstreamGroup>],
) -> Result<Vec<ConsulWatcher>, ConsulError> {
    let mut watchers = Vec::new();
    for group in groups.iter().filter(|g| g.spec().consul.is_some()) {
        let (members, index) = initial_members(group.spec()).await?;
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

/// The background service running every Consul watcher and active health checker of the
/// current configuration generation (a kept group keeps its running watcher; a retired
/// one's stops), and logging each group's state every `status_every`.
pub struct DiscoveryService {
    world: World,
    status_every: Duration,
}

impl DiscoveryService {
    /// A service following `world`; logs group status every `status_every`.
    pub fn new(world: World, status_every: Duration) -> Self {
        DiscoveryService {
            world,
            status_every,
        }
    }
}

fn log_status(upstreams: &Upstreams) {
    for g in upstreams.values() {
        let members = describe_members(g);
        if let Some(status) = g.watch_status() {
            let s = status.snapshot();
            info!(
                group = %g.name(),
                index = s.last_index,
                last_success_age_ms = age_ms(s.last_success_unix_ms),
                consecutive_errors = s.consecutive_errors,
                members = ?members,
                "upstream group status"
            );
        } else if g.spec().health_check.is_some() {
            info!(group = %g.name(), members = ?members, "upstream group status");
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
        let mut generations = self.world.subscribe();
        let mut watches = TaskSet::new("consul_watch");
        let mut checks = TaskSet::new("health_check");
        let mut tick = tokio::time::interval(self.status_every);
        loop {
            let gen = generations.borrow_and_update().clone();
            let mut pending: Vec<_> = gen.take_watchers().into_iter().map(Some).collect();
            watches.sync(gen.app.upstreams.values().filter_map(|g| {
                g.spec().consul.as_ref()?;
                let w = pending
                    .iter_mut()
                    .find(|w| w.as_ref().is_some_and(|w| w.group_name() == g.name()))
                    .and_then(Option::take);
                Some((id_of(g), w.map(|w| w.run())))
            }));
            checks.sync(gen.app.upstreams.values().filter_map(|g| {
                g.spec().health_check.as_ref()?;
                Some((id_of(g), Some(run_health_checks(g.clone()))))
            }));
            drop(gen);
            loop {
                tokio::select! {
                    _ = shutdown.changed() => return,
                    changed = generations.changed() => match changed {
                        Ok(()) => break,
                        Err(_) => return,
                    },
                    _ = tick.tick() => log_status(&self.world.current().app.upstreams),
                }
            }
        }
    }
}
