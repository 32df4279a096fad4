//! A circuit breaker for a Redis client: opens after N consecutive failures, lets one
//! half-open probe through after a cool-down, closes on success.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prometheus::IntGauge;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { probe_since: Instant },
}

/// Shared breaker state of one client.
#[derive(Debug)]
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
    /// The owner's gauge (e.g. `edgeproxy_cache_breaker_open{cache}`): 1 while open.
    open_gauge: IntGauge,
    /// Who owns it, for log lines (`cache`, `rate-limit api`).
    label: Arc<str>,
}

impl Breaker {
    /// A closed breaker that opens after `threshold` consecutive failures (at least 1),
    /// raising `open_gauge` by one while open; `label` names the owner in log lines.
    pub fn new(threshold: u32, cooldown: Duration, open_gauge: IntGauge, label: Arc<str>) -> Self {
        Breaker {
            threshold: threshold.max(1),
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
            open_gauge,
            label,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may go to Redis now. While open, no; after the cool-down one probe
    /// is allowed (and another if that probe never reports within a cool-down).
    pub fn allow(&self) -> bool {
        let mut st = self.lock();
        let now = Instant::now();
        match *st {
            State::Closed { .. } => true,
            State::Open { until } if now >= until => {
                *st = State::HalfOpen { probe_since: now };
                true
            }
            State::Open { .. } => false,
            State::HalfOpen { probe_since } if now >= probe_since + self.cooldown => {
                *st = State::HalfOpen { probe_since: now };
                true
            }
            State::HalfOpen { .. } => false,
        }
    }

    /// Reports a successful call: closes the breaker.
    pub fn success(&self) {
        let mut st = self.lock();
        if !matches!(*st, State::Closed { .. }) {
            self.open_gauge.dec();
            tracing::info!("{}: redis circuit breaker closed", self.label);
        }
        *st = State::Closed { failures: 0 };
    }

    /// Reports a failed or timed-out call.
    pub fn failure(&self) {
        let mut st = self.lock();
        let now = Instant::now();
        match *st {
            State::Closed { failures } if failures + 1 >= self.threshold => {
                self.open_gauge.inc();
                tracing::warn!(
                    failures = failures + 1,
                    "{}: redis circuit breaker opened",
                    self.label
                );
                *st = State::Open {
                    until: now + self.cooldown,
                };
            }
            State::Closed { failures } => {
                *st = State::Closed {
                    failures: failures + 1,
                }
            }
            State::HalfOpen { .. } | State::Open { .. } => {
                *st = State::Open {
                    until: now + self.cooldown,
                }
            }
        }
    }

    /// Whether the breaker is open or half-open (Redis treated as unavailable).
    pub fn is_open(&self) -> bool {
        !matches!(*self.lock(), State::Closed { .. })
    }
}

impl Drop for Breaker {
    fn drop(&mut self) {
        if self.is_open() {
            self.open_gauge.dec();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_threshold_and_probes_after_cooldown() {
        let gauge = IntGauge::new("unit_breaker", "unit").unwrap();
        let b = Breaker::new(3, Duration::from_millis(30), gauge.clone(), "t".into());
        b.failure();
        b.failure();
        assert!(b.allow() && !b.is_open());
        b.failure();
        assert!(b.is_open());
        assert_eq!(gauge.get(), 1);
        assert!(!b.allow());
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow(), "one probe after cool-down");
        assert!(!b.allow(), "only one probe at a time");
        b.failure();
        assert!(!b.allow(), "failed probe re-opens");
        std::thread::sleep(Duration::from_millis(40));
        assert!(b.allow());
        b.success();
        assert!(!b.is_open());
        assert_eq!(gauge.get(), 0);
        assert!(b.allow() && b.allow());
    }

    #[test]
    fn success_resets_the_count() {
        let gauge = IntGauge::new("u", "u").unwrap();
        let b = Breaker::new(2, Duration::from_secs(60), gauge, "t".into());
        b.failure();
        b.success();
        b.failure();
        assert!(!b.is_open());
    }
}
