//! The background service running every hot group's tick, for the groups of the current
//! configuration generation (a kept group keeps its running tick).

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use tokio::time::MissedTickBehavior;

use crate::generation::tasks::{id_of, TaskSet};
use crate::generation::World;

/// Ticks every hot group at its interval until shutdown.
pub struct HotService {
    world: World,
}

impl HotService {
    /// A service following `world`'s generations.
    pub fn new(world: World) -> Self {
        HotService { world }
    }
}

#[async_trait]
impl BackgroundService for HotService {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut generations = self.world.subscribe();
        let mut ticks = TaskSet::new("hot_tick");
        loop {
            let gen = generations.borrow_and_update().clone();
            ticks.sync(gen.app.hot.values().map(|g| {
                let id = id_of(g);
                let g = g.clone();
                let task = async move {
                    let mut every = tokio::time::interval(g.tick_interval());
                    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    loop {
                        every.tick().await;
                        g.tick().await;
                    }
                };
                (id, Some(task))
            }));
            drop(gen);
            tokio::select! {
                _ = shutdown.changed() => return,
                changed = generations.changed() => if changed.is_err() { return },
            }
        }
    }
}
