//! The background service running every hot group's tick.

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::time::MissedTickBehavior;

use super::HotGroups;

/// Ticks every hot group at its interval until shutdown.
pub struct HotService {
    groups: HotGroups,
}

impl HotService {
    /// A service for `groups`.
    pub fn new(groups: HotGroups) -> Self {
        HotService { groups }
    }
}

#[async_trait]
impl BackgroundService for HotService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut tasks = Vec::new();
        for g in self.groups.values() {
            let g = g.clone();
            tasks.push(tokio::spawn(async move {
                let mut every = tokio::time::interval(g.tick_interval());
                every.set_missed_tick_behavior(MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    g.tick().await;
                }
            }));
        }
        let _ = shutdown.changed().await;
        for t in tasks {
            t.abort();
        }
    }
}
