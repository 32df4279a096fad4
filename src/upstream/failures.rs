//! What went wrong with one peer, for the status API: failure counts since start and the
//! last error with when it happened. Lock-free (relaxed counters, the last error swapped
//! in whole); carried across member-set changes with the peer's health.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwapOption;

use super::clock::now_ms;

/// Longest error message kept (bytes); longer ones are cut at a character boundary.
pub const MAX_ERROR_LEN: usize = 256;

/// Failure counters and last error of one peer.
#[derive(Debug, Default)]
pub(crate) struct PeerFailures {
    passive: AtomicU64,
    connect: AtomicU64,
    check: AtomicU64,
    last: ArcSwapOption<Recorded>,
}

#[derive(Debug)]
struct Recorded {
    message: Box<str>,
    at_ms: u64,
}

/// Which failure counters a failure adds to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A failed connection; `passive` when it counted toward `max_fails`.
    Connect {
        /// Whether passive health counted it.
        passive: bool,
    },
    /// A failed active health check.
    Check,
}

/// A copy of one peer's failure record at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureSnapshot {
    /// Failures passive health counted toward `max_fails` (a group of one server, or a
    /// member with `max_fails = 0`, counts none).
    pub passive: u64,
    /// Failed connection attempts.
    pub connect: u64,
    /// Failed active health checks.
    pub check: u64,
    /// The last error (of a connection or a check); `None` if there was none yet.
    pub last_error: Option<LastError>,
}

/// The last error recorded for a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastError {
    /// What went wrong (at most [`MAX_ERROR_LEN`] bytes, then `…`).
    pub message: String,
    /// How long ago.
    pub ago: Duration,
}

impl PeerFailures {
    /// Records one failure of `kind`, `why` being its error text.
    pub(crate) fn record(&self, kind: Kind, why: &str) {
        match kind {
            Kind::Connect { passive } => {
                self.connect.fetch_add(1, Relaxed);
                if passive {
                    self.passive.fetch_add(1, Relaxed);
                }
            }
            Kind::Check => {
                self.check.fetch_add(1, Relaxed);
            }
        }
        self.last.store(Some(Arc::new(Recorded {
            message: truncate(why).into(),
            at_ms: now_ms(),
        })));
    }

    /// The counters and last error now.
    pub(crate) fn snapshot(&self) -> FailureSnapshot {
        let now = now_ms();
        FailureSnapshot {
            passive: self.passive.load(Relaxed),
            connect: self.connect.load(Relaxed),
            check: self.check.load(Relaxed),
            last_error: self.last.load_full().map(|r| LastError {
                message: r.message.to_string(),
                ago: Duration::from_millis(now.saturating_sub(r.at_ms)),
            }),
        }
    }
}

/// `s` cut to at most [`MAX_ERROR_LEN`] bytes (at a character boundary), marked with `…`.
fn truncate(s: &str) -> String {
    if s.len() <= MAX_ERROR_LEN {
        return s.to_string();
    }
    let mut end = MAX_ERROR_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_kind_and_keeps_the_last_error_bounded() {
        let f = PeerFailures::default();
        assert_eq!(f.snapshot().last_error, None);
        f.record(Kind::Connect { passive: true }, "refused");
        f.record(Kind::Connect { passive: false }, "refused again");
        f.record(Kind::Check, "GET /health answered 500, expected 200");
        let s = f.snapshot();
        assert_eq!((s.passive, s.connect, s.check), (1, 2, 1));
        let last = s.last_error.unwrap();
        assert_eq!(last.message, "GET /health answered 500, expected 200");
        assert!(last.ago < Duration::from_secs(60));

        let long = "é".repeat(MAX_ERROR_LEN);
        f.record(Kind::Check, &long);
        let msg = f.snapshot().last_error.unwrap().message;
        assert!(msg.ends_with('…') && msg.len() <= MAX_ERROR_LEN + '…'.len_utf8());
        assert!(long.starts_with(msg.trim_end_matches('…')));
    }
}
