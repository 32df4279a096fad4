//! The cluster view of one group: the latest report of every node (this one included),
//! summed into cluster-wide rates, and the hot set decided from them with hysteresis.
//!
//! A key enters when its cluster rate reaches `min_rate` and its share of the group's
//! cluster traffic reaches `min_share` (the hottest first, up to `max_keys`). It leaves
//! only after staying below `exit_ratio` × either threshold for `hold`: a key hovering at
//! the threshold does not flap in and out.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant, SystemTime};

use crate::upstream::HotSpec;

use super::window::Rates;

/// Rates of one key by node.
type NodeRates = Vec<(String, f64)>;

/// One node's report.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The node's name.
    pub node: String,
    /// Its rates.
    pub rates: Rates,
}

/// A key in the hot set.
#[derive(Debug, Clone)]
pub struct HotKey {
    /// When it entered (wall clock).
    pub since: SystemTime,
    /// Cluster-wide requests per second now.
    pub rate: f64,
    /// Share of the group's cluster-wide requests now.
    pub share: f64,
    /// Nodes that report it, with their rates.
    pub nodes: Vec<(String, f64)>,
    /// Among the hottest `edge.max_keys`: served from the first hop.
    pub edge: bool,
    entered: Instant,
    below_since: Option<Instant>,
}

/// A change of the hot set.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The key entered, with its rate and share.
    Entered(String, f64, f64),
    /// The key left after being hot this long.
    Left(String, Duration),
}

/// Reports and the hot set of one group.
pub struct View {
    reports: HashMap<String, (Rates, Instant)>,
    hot: BTreeMap<String, HotKey>,
    ttl: Duration,
    total: f64,
}

impl View {
    /// An empty view whose reports count for `ttl` after they arrive.
    pub fn new(ttl: Duration) -> Self {
        View {
            reports: HashMap::new(),
            hot: BTreeMap::new(),
            ttl,
            total: 0.0,
        }
    }

    /// Takes `report` as its node's latest.
    pub fn receive(&mut self, report: Report, now: Instant) {
        self.reports.insert(report.node, (report.rates, now));
    }

    /// The hot set.
    pub fn hot(&self) -> &BTreeMap<String, HotKey> {
        &self.hot
    }

    /// The group's cluster-wide requests per second at the last evaluation.
    pub fn total(&self) -> f64 {
        self.total
    }

    /// Nodes whose reports count now.
    pub fn nodes(&self) -> usize {
        self.reports.len()
    }

    /// Drops stale reports, sums the rest and updates the hot set; returns what changed.
    pub fn evaluate(&mut self, spec: &HotSpec, now: Instant, wall: SystemTime) -> Vec<Change> {
        let ttl = self.ttl;
        self.reports
            .retain(|_, (_, at)| now.duration_since(*at) <= ttl);
        let mut total = 0.0;
        let mut keys: HashMap<&str, (f64, NodeRates)> = HashMap::new();
        for (node, (rates, _)) in &self.reports {
            total += rates.total;
            for (k, r) in &rates.keys {
                let e = keys.entry(k).or_default();
                e.0 += r;
                e.1.push((node.clone(), *r));
            }
        }
        self.total = total;
        let share = |rate: f64| if total > 0.0 { rate / total } else { 0.0 };
        let meets = |rate: f64, factor: f64| {
            rate >= spec.min_rate * factor && share(rate) >= spec.min_share * factor
        };
        let mut changes = Vec::new();
        // Keys in the set: refresh, or leave after `hold` below the exit thresholds.
        let mut left = Vec::new();
        for (k, h) in self.hot.iter_mut() {
            let (rate, nodes) = keys.get(k.as_str()).cloned().unwrap_or_default();
            h.rate = rate;
            h.share = share(rate);
            h.nodes = nodes;
            if meets(rate, spec.exit_ratio) {
                h.below_since = None;
            } else if now.duration_since(*h.below_since.get_or_insert(now)) >= spec.hold {
                left.push(k.clone());
            }
        }
        for k in left {
            if let Some(h) = self.hot.remove(&k) {
                changes.push(Change::Left(k, now.duration_since(h.entered)));
            }
        }
        // New keys, hottest first, while there is room.
        let mut candidates: Vec<(&str, f64)> = keys
            .iter()
            .filter(|(k, (rate, _))| !self.hot.contains_key(**k) && meets(*rate, 1.0))
            .map(|(k, (rate, _))| (*k, *rate))
            .collect();
        candidates.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        for (k, rate) in candidates {
            if self.hot.len() >= spec.max_keys {
                break;
            }
            let nodes = keys.get(k).map(|e| e.1.clone()).unwrap_or_default();
            self.hot.insert(
                k.to_string(),
                HotKey {
                    since: wall,
                    rate,
                    share: share(rate),
                    nodes,
                    edge: false,
                    entered: now,
                    below_since: None,
                },
            );
            changes.push(Change::Entered(k.to_string(), rate, share(rate)));
        }
        self.mark_edge(spec.edge.as_ref().map_or(0, |e| e.max_keys));
        changes
    }

    /// Flags the `n` hottest keys for first-hop serving.
    fn mark_edge(&mut self, n: usize) {
        let mut by_rate: Vec<(&String, f64)> = self.hot.iter().map(|(k, h)| (k, h.rate)).collect();
        by_rate.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        let chosen: Vec<String> = by_rate
            .into_iter()
            .take(n)
            .map(|(k, _)| k.clone())
            .collect();
        for (k, h) in self.hot.iter_mut() {
            h.edge = chosen.contains(k);
        }
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
