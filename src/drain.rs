//! Draining: once the process is handing its listeners to a new one (SIGQUIT) or shutting
//! down, every response says `Connection: close`, so clients move their keep-alive
//! connections to the new process before the old one drops idle connections.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use pingora::server::{ExecutionPhase, ShutdownWatch};
use pingora::services::background::BackgroundService;
use tokio::sync::broadcast::Receiver;

static DRAINING: AtomicBool = AtomicBool::new(false);

/// True once the process has begun a graceful upgrade or shutdown.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Watches Pingora's execution phase and flips [`draining`].
pub struct DrainWatch {
    phases: Mutex<Option<Receiver<ExecutionPhase>>>,
}

impl DrainWatch {
    /// A watcher over `Server::watch_execution_phase()`.
    pub fn new(phases: Receiver<ExecutionPhase>) -> Self {
        DrainWatch {
            phases: Mutex::new(Some(phases)),
        }
    }
}

#[async_trait]
impl BackgroundService for DrainWatch {
    async fn start(&self, _shutdown: ShutdownWatch) {
        let Some(mut rx) = self.phases.lock().ok().and_then(|mut p| p.take()) else {
            return;
        };
        loop {
            match rx.recv().await {
                Ok(
                    ExecutionPhase::GracefulUpgradeTransferringFds
                    | ExecutionPhase::GracefulUpgradeCloseTimeout
                    | ExecutionPhase::GracefulTerminate
                    | ExecutionPhase::ShutdownStarted,
                ) => {
                    DRAINING.store(true, Ordering::Relaxed);
                    tracing::info!("draining: responses now close their connections");
                }
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
