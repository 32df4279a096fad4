//! The sliding window: the last N ticks of one node's counts, turned into rates.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use super::detector::Tick;

/// Slots of a window (the tick is `window / SLOTS`, clamped to 20 ms..1 s).
pub const SLOTS: u32 = 10;

/// The tick for a `window`.
pub fn tick_for(window: Duration) -> Duration {
    (window / SLOTS).clamp(Duration::from_millis(20), Duration::from_secs(1))
}

/// One node's rates over the window.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rates {
    /// Requests per second, all keys.
    pub total: f64,
    /// The heaviest keys' requests per second, heaviest first.
    pub keys: Vec<(String, f64)>,
}

/// The last ticks covering `window`.
pub struct Window {
    slots: VecDeque<(Tick, Duration)>,
    span: Duration,
}

impl Window {
    /// An empty window of length `window`.
    pub fn new(window: Duration) -> Self {
        Window {
            slots: VecDeque::new(),
            span: window,
        }
    }

    /// Adds a tick that covered `took`, dropping ticks that fell out of the window.
    pub fn push(&mut self, tick: Tick, took: Duration) {
        self.slots.push_back((tick, took));
        let mut covered: Duration = self.slots.iter().map(|s| s.1).sum();
        while self.slots.len() > 1 {
            let oldest = self.slots[0].1;
            if covered - oldest < self.span {
                break;
            }
            covered -= oldest;
            self.slots.pop_front();
        }
    }

    /// Rates over the time the window covers so far, at most `top` keys.
    pub fn rates(&self, top: usize) -> Rates {
        let covered: f64 = self.slots.iter().map(|s| s.1.as_secs_f64()).sum();
        if covered <= 0.0 {
            return Rates::default();
        }
        let mut total = 0u64;
        let mut sums: HashMap<&str, u64> = HashMap::new();
        for (tick, _) in &self.slots {
            total += tick.total;
            for (k, n) in &tick.counts {
                *sums.entry(k).or_default() += n;
            }
        }
        let mut keys: Vec<(String, f64)> = sums
            .into_iter()
            .map(|(k, n)| (k.to_string(), n as f64 / covered))
            .collect();
        keys.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        keys.truncate(top);
        Rates {
            total: total as f64 / covered,
            keys,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tick(total: u64, counts: &[(&str, u64)]) -> Tick {
        Tick {
            total,
            counts: counts.iter().map(|(k, n)| (k.to_string(), *n)).collect(),
        }
    }

    #[test]
    fn rates_are_per_second_over_what_the_window_covers() {
        let ms100 = Duration::from_millis(100);
        let mut w = Window::new(Duration::from_millis(300));
        w.push(tick(10, &[("a", 5)]), ms100);
        assert_eq!(w.rates(5).total, 100.0);
        w.push(tick(30, &[("a", 5), ("b", 20)]), ms100);
        w.push(tick(20, &[("b", 10)]), ms100);
        let r = w.rates(5);
        assert!((r.total - 200.0).abs() < 1e-6, "{r:?}");
        assert_eq!(r.keys[0].0, "b");
        assert!((r.keys[0].1 - 100.0).abs() < 1e-6);
        // The first tick falls out.
        w.push(tick(0, &[]), ms100);
        let r = w.rates(1);
        assert!((r.total - 50.0 / 0.3).abs() < 1e-6, "{r:?}");
        assert_eq!(r.keys.len(), 1);
        assert_eq!(r.keys[0].0, "b");
    }

    #[test]
    fn the_tick_is_a_tenth_of_the_window_within_bounds() {
        assert_eq!(tick_for(Duration::from_secs(1)), Duration::from_millis(100));
        assert_eq!(
            tick_for(Duration::from_millis(100)),
            Duration::from_millis(20)
        );
        assert_eq!(tick_for(Duration::from_secs(600)), Duration::from_secs(1));
    }
}
