//! A Pingora background service that starts every Redis-backed cache's purge subscriber
//! when the server starts, so warm L1 entries are not demoted by a late first subscription.

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::generation::World;

/// Starts the purge subscribers of the current generation's caches (a kept cache keeps
/// its subscriber; a retired one stops it when it is dropped), then follows reloads.
pub struct CacheSubscribers {
    world: World,
}

impl CacheSubscribers {
    /// A service following `world`'s generations.
    pub fn new(world: World) -> Self {
        CacheSubscribers { world }
    }
}

#[async_trait]
impl BackgroundService for CacheSubscribers {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut generations = self.world.subscribe();
        loop {
            let gen = generations.borrow_and_update().clone();
            for (name, cache) in gen.app.caches.iter() {
                if !cache.background_started() && cache.start_background() {
                    tracing::info!(cache = %name, "cache purge subscriber started");
                }
            }
            drop(gen);
            tokio::select! {
                _ = shutdown.changed() => return,
                changed = generations.changed() => if changed.is_err() { return },
            }
        }
    }
}
