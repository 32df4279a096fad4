//! The background service that checks every TLS listener's certificate files once a second
//! and swaps in pairs that changed ([`ListenerTls::check`]), and keeps the expiry metric
//! current.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::ListenerTls;

/// How often certificate files are looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);

/// Watches the certificates of every TLS listener of the process.
pub struct CertWatch {
    listeners: Vec<Arc<ListenerTls>>,
}

impl CertWatch {
    /// A watch over `listeners`.
    pub fn new(listeners: Vec<Arc<ListenerTls>>) -> Self {
        CertWatch { listeners }
    }
}

#[async_trait]
impl BackgroundService for CertWatch {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(CHECK_EVERY) => {}
            }
            for tls in &self.listeners {
                let tls = tls.clone();
                // File reads and parsing off the async threads.
                let _ = tokio::task::spawn_blocking(move || tls.check()).await;
            }
        }
    }
}
