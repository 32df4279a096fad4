//! Per-peer health. Passive, nginx style: `max_fails` failures within `fail_timeout` take a
//! peer out for `fail_timeout`. Active: `fall` consecutive failed checks take it out until
//! `rise` consecutive checks pass. Lock-free: a few relaxed atomics per peer; the state is
//! carried across member-set swaps for addresses that stay.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use super::failures::PeerFailures;

/// Failure counters of one peer. Shared across member-set swaps for the same address.
#[derive(Debug, Default)]
pub(crate) struct PeerHealth {
    fails: AtomicU32,
    window_start: AtomicU64,
    down_until: AtomicU64,
    active_down: AtomicBool,
    checks_in_a_row: AtomicU32,
    /// Failure counts and the last error, for the status API.
    pub(crate) failures: PeerFailures,
}

impl PeerHealth {
    /// Whether the peer may be selected at `now`.
    #[cfg(test)]
    pub(crate) fn available(&self, now: u64) -> bool {
        !self.active_down.load(Relaxed) && now >= self.down_until.load(Relaxed)
    }

    /// When passive health lets the peer back in (0: it was never out).
    pub(crate) fn down_until(&self) -> u64 {
        self.down_until.load(Relaxed)
    }

    /// Whether passive health has the peer out at `now`.
    pub(crate) fn passively_down(&self, now: u64) -> bool {
        now < self.down_until.load(Relaxed)
    }

    /// Whether active checks have the peer out.
    pub(crate) fn actively_down(&self) -> bool {
        self.active_down.load(Relaxed)
    }

    /// Records one active check; returns `Some(up)` when this check changed the state.
    /// Only one checker per group calls this, so the load-then-store sequences do not race.
    pub(crate) fn check_result(&self, ok: bool, rise: u32, fall: u32) -> Option<bool> {
        let down = self.active_down.load(Relaxed);
        if ok != down {
            // A result confirming the current state breaks any streak toward the other one.
            self.checks_in_a_row.store(0, Relaxed);
            return None;
        }
        let n = self.checks_in_a_row.fetch_add(1, Relaxed) + 1;
        if n >= if down { rise } else { fall } {
            self.checks_in_a_row.store(0, Relaxed);
            self.active_down.store(!down, Relaxed);
            return Some(down);
        }
        None
    }

    /// Records a failure at `now`; returns true when this failure took the peer out.
    pub(crate) fn failure(&self, now: u64, max_fails: u32, fail_timeout: Duration) -> bool {
        if max_fails == 0 {
            return false;
        }
        let timeout = fail_timeout.as_millis() as u64;
        let start = self.window_start.load(Relaxed);
        let fails = if start == 0 || now.saturating_sub(start) > timeout {
            self.window_start.store(now, Relaxed);
            self.fails.store(1, Relaxed);
            1
        } else {
            self.fails.fetch_add(1, Relaxed) + 1
        };
        if fails >= max_fails {
            self.down_until.store(now + timeout, Relaxed);
            self.fails.store(0, Relaxed);
            self.window_start.store(0, Relaxed);
            return true;
        }
        false
    }

    /// Records a success: the failure count starts over and the peer is back in.
    pub(crate) fn success(&self) {
        if self.fails.load(Relaxed) != 0 {
            self.fails.store(0, Relaxed);
        }
        if self.down_until.load(Relaxed) != 0 {
            self.down_until.store(0, Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(10);

    #[test]
    fn max_fails_within_window_takes_peer_out_for_fail_timeout() {
        let h = PeerHealth::default();
        assert!(h.available(1000));
        assert!(!h.failure(1000, 2, T));
        assert!(h.available(1001));
        assert!(h.failure(5000, 2, T));
        assert!(!h.available(5001));
        assert!(!h.available(14_999));
        assert!(h.available(15_000));
    }

    #[test]
    fn failures_outside_window_do_not_add_up() {
        let h = PeerHealth::default();
        assert!(!h.failure(1000, 2, T));
        assert!(!h.failure(11_001, 2, T), "first failure expired");
        assert!(h.failure(11_002, 2, T));
    }

    #[test]
    fn fall_failed_checks_take_out_and_rise_passed_checks_bring_back() {
        let h = PeerHealth::default();
        assert_eq!(h.check_result(false, 2, 3), None);
        assert_eq!(h.check_result(false, 2, 3), None);
        assert_eq!(h.check_result(true, 2, 3), None, "a pass breaks the streak");
        assert_eq!(h.check_result(false, 2, 3), None);
        assert_eq!(h.check_result(false, 2, 3), None);
        assert!(h.available(1));
        assert_eq!(h.check_result(false, 2, 3), Some(false));
        assert!(!h.available(1) && h.actively_down() && !h.passively_down(1));
        assert_eq!(h.check_result(true, 2, 3), None);
        assert_eq!(
            h.check_result(false, 2, 3),
            None,
            "a failure breaks the streak"
        );
        assert_eq!(h.check_result(true, 2, 3), None);
        assert!(!h.available(1));
        assert_eq!(h.check_result(true, 2, 3), Some(true));
        assert!(h.available(1));
        h.success();
        assert!(
            h.available(1),
            "passive success does not touch active state"
        );
    }

    #[test]
    fn max_fails_zero_never_takes_out_and_success_resets() {
        let h = PeerHealth::default();
        for t in 0..100 {
            assert!(!h.failure(1000 + t, 0, T));
        }
        assert!(h.available(2000));
        assert!(!h.failure(1000, 2, T));
        h.success();
        assert!(!h.failure(1001, 2, T), "count restarted after success");
        assert!(h.failure(1002, 1, T));
        h.success();
        assert!(h.available(1003));
    }
}
