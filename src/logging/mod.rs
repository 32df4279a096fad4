//! Log output: `tracing` events (and Pingora's `log` records) to stderr, which points at
//! `[server] error_log` when one is set (reopened on SIGUSR1), filtered by `EDGEPROXY_LOG`
//! (`RUST_LOG` syntax), else `[server] log_level` (default `info`).
//!
//! Every log line is rate-limited per call site ([`RateLimit`]): a fault that repeats in a
//! tight loop (an accept error, a failing peer) writes at most [`LINES_PER_SECOND`] lines a
//! second from one place, plus one line saying how many were suppressed — never an
//! unbounded log. Pingora's `log` records come through [`PingoraLog`], which re-levels two
//! known false alarms (see its module).

mod pingora_log;
mod rate_limit;

pub use pingora_log::{relevel, PingoraLog};
pub use rate_limit::RateLimit;

use std::path::Path;
use std::sync::OnceLock;
use std::time::Duration;

use tracing_log::AsLog;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{reload, EnvFilter};

/// Lines one call site may write per second before further ones are suppressed.
pub const LINES_PER_SECOND: u32 = 20;

type FilterHandle = reload::Handle<EnvFilter, tracing_subscriber::Registry>;

static FILTER: OnceLock<FilterHandle> = OnceLock::new();

/// Installs the global subscriber once (`EDGEPROXY_LOG`, else `info`); later calls (or a
/// subscriber the embedding program installed first) are left alone.
pub fn init() {
    let filter =
        EnvFilter::try_from_env("EDGEPROXY_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (filter, handle) = reload::Layer::new(filter);
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        // No colour codes in files, journals and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let subscriber = tracing_subscriber::registry()
        .with(filter)
        .with(RateLimit::new(LINES_PER_SECOND, Duration::from_secs(1)))
        .with(fmt);
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return;
    }
    let _ = FILTER.set(handle);
    if log::set_boxed_logger(Box::new(PingoraLog::new())).is_ok() {
        follow_level();
    }
}

/// Lets `log` records through up to the level `tracing` currently enables.
fn follow_level() {
    log::set_max_level(tracing::level_filters::LevelFilter::current().as_log());
}

/// Applies the config's `log_level` unless `EDGEPROXY_LOG` is set (it wins).
pub fn set_level(level: &str) {
    if std::env::var_os("EDGEPROXY_LOG").is_some() {
        return;
    }
    if let (Some(handle), Ok(filter)) = (FILTER.get(), EnvFilter::try_new(level)) {
        let _ = handle.reload(filter);
        follow_level();
    }
}

static REOPENS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Incremented on every SIGUSR1: log writers (the error log, plugins' access logs) reopen
/// their files when it changes.
pub fn reopen_generation() -> u64 {
    REOPENS.load(std::sync::atomic::Ordering::Acquire)
}

/// Asks every log writer to reopen its file (what SIGUSR1 does).
pub fn request_reopen() {
    REOPENS.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
}

/// Points standard error (where the log goes) at `path`, appending; called at start and on
/// SIGUSR1, so logrotate can move the file and have it reopened.
pub fn redirect_stderr(path: &Path) -> std::io::Result<()> {
    redirect(path, 2)
}

/// Points standard output at `/dev/null`: a background process (`-d`) writes nothing there,
/// and must not hold the pipe of whoever started it (`edgeproxy -d … | cat` would never end),
/// as nginx closes its standard streams.
pub fn detach_stdout() -> std::io::Result<()> {
    redirect(Path::new("/dev/null"), 1)
}

fn redirect(path: &Path, fd: i32) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // SAFETY: dup2 on two valid descriptors; `fd` then refers to the file, and `file`'s own
    // descriptor is closed when it drops.
    match unsafe { libc::dup2(file.as_raw_fd(), fd) } {
        -1 => Err(std::io::Error::last_os_error()),
        _ => Ok(()),
    }
}
