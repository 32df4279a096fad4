//! Per-process state of a rule: one [`State`] per key in a bounded map (moka, TinyLFU: under
//! a flood of distinct keys the rarely seen ones are forgotten first), entries dropped once
//! idle longer than they can matter (two windows, or the time a full bucket drains).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use moka::sync::Cache;
use once_cell::sync::Lazy;

use super::algo::{Algorithm, Decision, State};

/// Milliseconds on a monotonic clock shared by every rule of the process.
pub fn now_ms() -> u64 {
    static START: Lazy<Instant> = Lazy::new(Instant::now);
    // Offset so that window boundaries do not all fall at process start.
    START.elapsed().as_millis() as u64 + 1_000_000_000
}

/// The keys of one rule in this process.
pub struct LocalLimiter {
    algo: Algorithm,
    states: Cache<String, Arc<Mutex<State>>>,
}

impl LocalLimiter {
    /// At most `max_keys` keys of `algo`.
    pub fn new(algo: Algorithm, max_keys: u64) -> Self {
        LocalLimiter {
            algo,
            states: Cache::builder()
                .max_capacity(max_keys)
                .time_to_idle(idle_after(&algo))
                .build(),
        }
    }

    /// The algorithm (and its numbers) this limiter applies.
    pub fn algorithm(&self) -> &Algorithm {
        &self.algo
    }

    /// Decides one request for `key` now.
    pub fn decide(&self, key: &str) -> Decision {
        let state = match self.states.get(key) {
            Some(s) => s,
            None => self
                .states
                .get_with(key.to_string(), || Arc::new(Mutex::new(State::default()))),
        };
        let mut st = state.lock().unwrap_or_else(|p| p.into_inner());
        self.algo.decide(&mut st, now_ms())
    }
}

/// How long an untouched key's state can still change a decision.
fn idle_after(algo: &Algorithm) -> Duration {
    match *algo {
        Algorithm::Window { window_ms, .. } => Duration::from_millis(2 * window_ms),
        Algorithm::Bucket {
            rate_milli, burst, ..
        } => Duration::from_millis((burst + 1) * 1_000_000 / rate_milli.max(1) + 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_counted_apart_and_the_map_is_bounded() {
        let algo = Algorithm::Window {
            limit: 2,
            window_ms: 60_000,
            sliding: false,
        };
        let l = LocalLimiter::new(algo, 1000);
        let a: Vec<bool> = (0..3).map(|_| l.decide("a").allowed).collect();
        assert_eq!(a, [true, true, false]);
        assert!(l.decide("b").allowed);
        for i in 0..5000 {
            l.decide(&format!("k{i}"));
        }
        l.states.run_pending_tasks();
        assert!(l.states.entry_count() <= 1000, "{}", l.states.entry_count());
    }
}
