//! Draining: once the process is handing its listeners to a new one (SIGQUIT) or shutting
//! down, every response says `Connection: close`, so clients move their keep-alive
//! connections to the new process before the old one drops idle connections. Requests in
//! flight are counted, so a graceful stop can end as soon as the last one is answered.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use async_trait::async_trait;
use pingora::server::{ExecutionPhase, ShutdownWatch};
use pingora::services::background::BackgroundService;
use tokio::sync::broadcast::Receiver;

static DRAINING: AtomicBool = AtomicBool::new(false);
static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// True once the process has begun a graceful upgrade or shutdown.
pub fn draining() -> bool {
    DRAINING.load(Ordering::Relaxed)
}

/// Starts draining now (from a signal, before Pingora's own phase change arrives).
pub fn start_draining() {
    if !DRAINING.swap(true, Ordering::Relaxed) {
        tracing::info!("draining: responses now close their connections");
    }
}

/// Requests being processed now (read, not yet logged).
pub fn in_flight() -> usize {
    IN_FLIGHT.load(Ordering::Acquire)
}

/// Counts one request as in flight for as long as it lives (held by the request context).
#[derive(Debug)]
pub struct InFlight(());

impl InFlight {
    /// Counts a new request.
    pub fn start() -> Self {
        IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        InFlight(())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
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
                ) => start_draining(),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            }
        }
    }
}
