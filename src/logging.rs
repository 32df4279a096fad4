//! Log output: `tracing` events (and Pingora's `log` records) to stderr, which points at
//! `[server] error_log` when one is set (reopened on SIGUSR1), filtered by `EDGEPROXY_LOG`
//! (`RUST_LOG` syntax), else `[server] log_level` (default `info`).
//!
//! Every log line is rate-limited per call site ([`RateLimit`]): a fault that repeats in a
//! tight loop (an accept error, a failing peer) writes at most [`LINES_PER_SECOND`] lines a
//! second from one place, plus one line saying how many were suppressed — never an
//! unbounded log.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, EnvFilter};

/// Lines one call site may write per second before further ones are suppressed.
pub const LINES_PER_SECOND: u32 = 20;

/// Call sites remembered at once (the table is cleared when it grows past this).
const MAX_SITES: usize = 4096;

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
    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(RateLimit::new(LINES_PER_SECOND, Duration::from_secs(1)))
        .with(fmt)
        .try_init();
    if installed.is_ok() {
        let _ = FILTER.set(handle);
    }
}

/// Applies the config's `log_level` unless `EDGEPROXY_LOG` is set (it wins).
pub fn set_level(level: &str) {
    if std::env::var_os("EDGEPROXY_LOG").is_some() {
        return;
    }
    if let (Some(handle), Ok(filter)) = (FILTER.get(), EnvFilter::try_new(level)) {
        let _ = handle.reload(filter);
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
    use std::os::fd::AsRawFd;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    // SAFETY: dup2 on two valid descriptors; fd 2 then refers to the file, and `file`'s own
    // descriptor is closed when it drops.
    match unsafe { libc::dup2(file.as_raw_fd(), 2) } {
        -1 => Err(std::io::Error::last_os_error()),
        _ => Ok(()),
    }
}

/// A layer that lets at most `budget` events per `window` through from each call site
/// (file and line, also for records from the `log` crate), and reports what it dropped.
pub struct RateLimit {
    budget: u32,
    window: Duration,
    sites: Mutex<HashMap<u64, Site>>,
}

struct Site {
    since: Instant,
    seen: u32,
    suppressed: u64,
}

impl RateLimit {
    /// `budget` events per `window` and call site.
    pub fn new(budget: u32, window: Duration) -> Self {
        RateLimit {
            budget,
            window,
            sites: Mutex::new(HashMap::new()),
        }
    }

    /// Whether one more event from the site `key` may be written at `now`; when a new window
    /// starts after suppressions, returns how many were suppressed in the last one.
    fn admit(&self, key: u64, now: Instant) -> (bool, u64) {
        let Ok(mut sites) = self.sites.lock() else {
            return (true, 0);
        };
        if sites.len() >= MAX_SITES && !sites.contains_key(&key) {
            sites.clear();
        }
        let site = sites.entry(key).or_insert(Site {
            since: now,
            seen: 0,
            suppressed: 0,
        });
        let mut reported = 0;
        if now.duration_since(site.since) >= self.window {
            reported = std::mem::take(&mut site.suppressed);
            site.since = now;
            site.seen = 0;
        }
        site.seen += 1;
        if site.seen > self.budget {
            site.suppressed += 1;
            return (false, reported);
        }
        (true, reported)
    }
}

impl<S: Subscriber> Layer<S> for RateLimit {
    fn event_enabled(&self, event: &Event<'_>, _ctx: Context<'_, S>) -> bool {
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (
            meta.target(),
            meta.file(),
            meta.line(),
            meta.level().as_str(),
        )
            .hash(&mut h);
        let (admit, suppressed) = self.admit(h.finish(), Instant::now());
        if suppressed > 0 {
            eprintln!(
                "{} lines from {}:{} suppressed in the last {:?} (more than {} per {:?})",
                suppressed,
                meta.file().unwrap_or(meta.target()),
                meta.line().unwrap_or(0),
                self.window,
                self.budget,
                self.window
            );
        }
        admit
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_gets_its_budget_per_window_then_reports_what_it_dropped() {
        let rl = RateLimit::new(3, Duration::from_secs(1));
        let t0 = Instant::now();
        let admitted = (0..10).filter(|_| rl.admit(7, t0).0).count();
        assert_eq!(admitted, 3);
        // Another site is not affected.
        assert!(rl.admit(8, t0).0);
        // Next window: admitted again, and the 7 drops are reported once.
        let t1 = t0 + Duration::from_millis(1001);
        assert_eq!(rl.admit(7, t1), (true, 7));
        assert_eq!(rl.admit(7, t1), (true, 0));
    }
}
