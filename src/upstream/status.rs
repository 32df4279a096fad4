//! What a Consul watcher is doing, readable from logs, metrics and the admin API.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Live status of one group's watcher. All readers are cheap and never block the watcher
/// for long.
#[derive(Debug, Default)]
pub struct WatchStatus {
    last_index: AtomicU64,
    requests: AtomicU64,
    last_success_ms: AtomicU64,
    last_change_ms: AtomicU64,
    changes: AtomicU64,
    consecutive_errors: AtomicU64,
    total_errors: AtomicU64,
    members: AtomicU64,
    last_error: Mutex<Option<String>>,
}

/// A copy of [`WatchStatus`] at one moment.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WatchSnapshot {
    /// `X-Consul-Index` the next blocking query waits on (0 = next read is plain).
    pub last_index: u64,
    /// Reads sent to Consul.
    pub requests: u64,
    /// Unix time (ms) of the last successful read; 0 = never.
    pub last_success_unix_ms: u64,
    /// Unix time (ms) of the last applied membership change; 0 = never.
    pub last_change_unix_ms: u64,
    /// Membership changes applied.
    pub changes: u64,
    /// Errors since the last successful read.
    pub consecutive_errors: u64,
    /// Errors since start.
    pub total_errors: u64,
    /// Current member count.
    pub members: u64,
    /// The last error message, cleared by a successful read.
    pub last_error: Option<String>,
}

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl WatchStatus {
    /// A copy of all fields.
    pub fn snapshot(&self) -> WatchSnapshot {
        WatchSnapshot {
            last_index: self.last_index.load(Relaxed),
            requests: self.requests.load(Relaxed),
            last_success_unix_ms: self.last_success_ms.load(Relaxed),
            last_change_unix_ms: self.last_change_ms.load(Relaxed),
            changes: self.changes.load(Relaxed),
            consecutive_errors: self.consecutive_errors.load(Relaxed),
            total_errors: self.total_errors.load(Relaxed),
            members: self.members.load(Relaxed),
            last_error: self.last_error.lock().map(|e| e.clone()).unwrap_or(None),
        }
    }

    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Relaxed);
    }

    pub(crate) fn set_index(&self, index: u64) {
        self.last_index.store(index, Relaxed);
    }

    pub(crate) fn success(&self) {
        self.last_success_ms.store(unix_ms(), Relaxed);
        self.consecutive_errors.store(0, Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = None;
        }
    }

    pub(crate) fn changed(&self, members: usize) {
        self.last_change_ms.store(unix_ms(), Relaxed);
        self.changes.fetch_add(1, Relaxed);
        self.members.store(members as u64, Relaxed);
    }

    pub(crate) fn set_members(&self, members: usize) {
        self.members.store(members as u64, Relaxed);
    }

    /// Records an error; returns the number of consecutive errors.
    pub(crate) fn error(&self, msg: String) -> u64 {
        self.total_errors.fetch_add(1, Relaxed);
        if let Ok(mut e) = self.last_error.lock() {
            *e = Some(msg);
        }
        self.consecutive_errors.fetch_add(1, Relaxed) + 1
    }
}
