//! A Pingora background service that starts every Redis-backed cache's purge subscriber
//! when the server starts, so warm L1 entries are not demoted by a late first subscription.

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use crate::cache::Caches;

/// Starts the purge subscribers of `caches`, then waits for shutdown.
pub struct CacheSubscribers {
    caches: Caches,
}

impl CacheSubscribers {
    /// A service for `caches`.
    pub fn new(caches: Caches) -> Self {
        CacheSubscribers { caches }
    }
}

#[async_trait]
impl BackgroundService for CacheSubscribers {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        for (name, cache) in self.caches.iter() {
            if cache.start_background() {
                tracing::info!(cache = %name, "cache purge subscriber started");
            }
        }
        let _ = shutdown.changed().await;
    }
}
