//! Per-call-site rate limit of log lines: a fault that repeats in a tight loop (an accept
//! error, a failing peer) writes at most a budget of lines per window from one place, plus
//! one line saying how many were suppressed — never an unbounded log.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::layer::{Context, Layer};

/// Call sites remembered at once (the table is cleared when it grows past this).
const MAX_SITES: usize = 4096;

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
