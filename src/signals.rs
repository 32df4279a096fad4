//! How the process reacts to signals (Pingora's defaults, made safe for operators):
//!
//! - `SIGQUIT` hands the listeners to a new process (graceful upgrade) **only when a new
//!   process is waiting** on `upgrade_sock`; otherwise it is logged and ignored, so a stray
//!   `kill -QUIT` (or a reload whose new process failed to start) never leaves nothing
//!   listening. `edgeproxy -s reload` starts the new process first, then sends it.
//! - `SIGTERM` stops gracefully: responses close their connections, and the process exits as
//!   soon as no request is in flight (at most `graceful_shutdown_timeout` later).
//! - `SIGINT` stops at once.
//! - `SIGUSR1` reopens `error_log` and the access logs (after logrotate moved them).
//! - `SIGHUP` reloads the configuration in place (nginx's reload signal): the result is
//!   logged; `edgeproxy -s reload` does the same through the control socket and waits.
//!
//! On exit the pid file is removed when it still names this process.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, SignalKind};

use crate::drain;

/// How long a `SIGQUIT` waits for a new process to appear on the upgrade socket.
pub const UPGRADE_PEER_WAIT: Duration = Duration::from_secs(5);

/// The signal watch handed to Pingora's main loop.
pub struct Signals {
    /// The upgrade socket a new process listens on while it waits for the listeners.
    pub upgrade_sock: PathBuf,
    /// The pid file to remove on exit (when it still names this process).
    pub pid_file: PathBuf,
    /// Upper bound for a graceful stop (`SIGTERM`).
    pub graceful_timeout: Duration,
    /// The error log to reopen on `SIGUSR1`.
    pub error_log: Option<PathBuf>,
    /// What `SIGHUP` reloads.
    pub world: Option<crate::generation::World>,
    /// Every address listened on (`127.0.0.1:8080,[::1]:8443`), for the line that says the
    /// process runs: written once these handlers are in place, so a script (or a test)
    /// that waits for it may signal the process and learns the ports given for port 0.
    pub listen: String,
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut quit), Ok(mut term), Ok(mut int), Ok(mut usr1), Ok(mut hup)) = (
            signal(SignalKind::quit()),
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::user_defined1()),
            signal(SignalKind::hangup()),
        ) else {
            tracing::error!("cannot install signal handlers; falling back to Pingora's");
            return pingora::server::UnixShutdownSignalWatch.recv().await;
        };
        tracing::info!(listen = %self.listen, "edgeproxy running");
        // Once the services run, start-up code leaves memory (src/resident.rs).
        let start_up = tokio::time::sleep(START_UP);
        tokio::pin!(start_up);
        let mut started = false;
        loop {
            tokio::select! {
                _ = &mut start_up, if !started => {
                    started = true;
                    crate::resident::drop_unused_text();
                }
                _ = quit.recv() => {
                    if upgrade_peer_waiting(&self.upgrade_sock, UPGRADE_PEER_WAIT).await {
                        tracing::info!("SIGQUIT: handing the listeners to the new process");
                        drain::start_draining();
                        return ShutdownSignal::GracefulUpgrade;
                    }
                    tracing::error!(
                        upgrade_sock = %self.upgrade_sock.display(),
                        "SIGQUIT ignored: no new process is waiting for the listeners; \
                         still serving (reload with `edgeproxy -s reload -c FILE`)"
                    );
                }
                _ = term.recv() => {
                    tracing::info!("SIGTERM: stopping once the requests in flight are answered");
                    drain::start_draining();
                    wait_idle(self.graceful_timeout).await;
                    exit(&self.pid_file, 0);
                }
                _ = int.recv() => {
                    tracing::info!("SIGINT: stopping now");
                    exit(&self.pid_file, 0);
                }
                _ = hup.recv() => {
                    match &self.world {
                        Some(world) => {
                            tracing::info!("SIGHUP: reloading the configuration in place");
                            let world = world.clone();
                            // The result (applied or refused, and why) is logged by reload.
                            tokio::spawn(async move { world.reload(None).await });
                        }
                        None => tracing::warn!("SIGHUP ignored: nothing to reload"),
                    }
                }
                _ = usr1.recv() => {
                    crate::logging::request_reopen();
                    if let Some(path) = &self.error_log {
                        match crate::logging::redirect_stderr(path) {
                            Ok(()) => tracing::info!("SIGUSR1: error log reopened"),
                            Err(e) => tracing::error!(
                                error_log = %path.display(), "SIGUSR1: cannot reopen: {e}"
                            ),
                        }
                    }
                }
            }
        }
    }
}

/// How long after the process says it runs the start-up code is dropped from memory: by
/// then every service has started.
const START_UP: Duration = Duration::from_secs(2);

/// True when a new process is listening on `sock` now or within `wait` (it binds the socket
/// before it blocks waiting for the listeners).
async fn upgrade_peer_waiting(sock: &Path, wait: Duration) -> bool {
    use std::os::unix::fs::FileTypeExt;
    let deadline = Instant::now() + wait;
    loop {
        if std::fs::metadata(sock).is_ok_and(|m| m.file_type().is_socket()) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until no request is in flight, at most `limit`.
async fn wait_idle(limit: Duration) {
    let deadline = Instant::now() + limit;
    while drain::in_flight() > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if drain::in_flight() > 0 {
        tracing::warn!(
            in_flight = drain::in_flight(),
            "graceful stop: requests still in flight after {limit:?}; exiting"
        );
    }
}

/// Removes the pid file if it names this process, then exits with `code`.
pub fn exit(pid_file: &Path, code: i32) -> ! {
    remove_own_pid_file(pid_file);
    std::process::exit(code)
}

/// Removes `pid_file` (and Pingora's `<pid_file>.old`) when it holds this process's pid.
pub fn remove_own_pid_file(pid_file: &Path) {
    let me = std::process::id();
    let old = PathBuf::from(format!("{}.old", pid_file.display()));
    for path in [pid_file, old.as_path()] {
        let ours = std::fs::read_to_string(path)
            .ok()
            .and_then(|s| s.trim().parse::<u32>().ok())
            == Some(me);
        if ours {
            let _ = std::fs::remove_file(path);
        }
    }
}
