//! A file that a plugin reloads when it changes, checked off the request path.
//!
//! At most once per `check_every`, one request wins an atomic check of the time
//! ([`WatchedFile::check_due`]) and hands a look at the file's modification time and length
//! to a blocking thread ([`off_request_path`]), so no request waits on the disk; there the
//! owner calls [`WatchedFile::changed`] and, when it says so, reads and parses the file and
//! swaps the result in. Write such files elsewhere and `rename` them into place, so a
//! half-written file is never read.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use once_cell::sync::Lazy;

static EPOCH: Lazy<Instant> = Lazy::new(Instant::now);

/// What tells a changed file from an unchanged one.
type Stamp = (SystemTime, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn now_ms() -> u64 {
    EPOCH.elapsed().as_millis() as u64
}

/// A watched file: its path, the check interval, and what was last seen of it.
pub struct WatchedFile {
    path: PathBuf,
    check_every: Duration,
    last_check_ms: AtomicU64,
    seen: Mutex<Option<Stamp>>,
}

impl WatchedFile {
    /// Watches `path`, taking its current state as read (the caller has just read it).
    pub fn new(path: PathBuf, check_every: Duration) -> Self {
        WatchedFile {
            seen: Mutex::new(stamp(&path)),
            path,
            check_every,
            last_check_ms: AtomicU64::new(now_ms()),
        }
    }

    /// The file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether this caller won the (at most once per `check_every`) change check.
    pub fn check_due(&self) -> bool {
        let now = now_ms();
        let last = self.last_check_ms.load(Ordering::Relaxed);
        now.saturating_sub(last) >= self.check_every.as_millis() as u64
            && self
                .last_check_ms
                .compare_exchange(last, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
    }

    /// True, once per change, when the file's modification time or length differ from what
    /// was last seen (a file that disappears counts as a change too). Touches the disk:
    /// call it off the request path.
    pub fn changed(&self) -> bool {
        let Ok(mut seen) = self.seen.lock() else {
            return false;
        };
        let now = stamp(&self.path);
        if now == *seen {
            return false;
        }
        *seen = now;
        true
    }
}

/// Runs `work` on a blocking thread of the current runtime (inline without one), so a
/// request never waits on the disk.
pub fn off_request_path(work: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn_blocking(work);
        }
        Err(_) => work(),
    }
}
