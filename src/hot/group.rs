//! One upstream group's hot-key machinery: the request path's [`observe`](HotGroup::observe)
//! and the background [`tick`](HotGroup::tick) that turns counts into the hot set.

use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use crate::cache::TieredCache;
use crate::upstream::{HotSpec, UpstreamGroup};

use super::detector::Detector;
use super::metrics::HotMetrics;
use super::prewarm::{self, Prewarm};
use super::report;
use super::set::{Hit, HotSet};
use super::status::{FirstHopStatus, GroupStatus, KeyStatus, Thresholds};
use super::store::FirstHopStore;
use super::view::{Change, Report, View};
use super::window::{tick_for, Window};

/// Hot-key detection, the cluster view and the hot set of one upstream group.
pub struct HotGroup {
    spec: HotSpec,
    group: Arc<UpstreamGroup>,
    node: Arc<str>,
    tick: Duration,
    detector: Detector,
    window: Mutex<(Window, Instant)>,
    view: Mutex<View>,
    set: ArcSwap<HotSet>,
    cache: Option<TieredCache>,
    metrics: Arc<HotMetrics>,
    client: Option<reqwest::Client>,
    edge: Option<Arc<FirstHopStore>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl HotGroup {
    /// The machinery for `group` (whose spec has a `hot` table) on node `node`; `cache` is
    /// the engine named by `hot.cache`, whose Redis carries the reports. Registers the
    /// report channel on it; opens nothing (safe under `-t`).
    pub fn new(
        group: Arc<UpstreamGroup>,
        spec: HotSpec,
        cache: Option<TieredCache>,
        node: Arc<str>,
    ) -> Arc<Self> {
        let tick = tick_for(spec.window);
        let t = group.spec().timeouts;
        Arc::new_cyclic(|weak: &Weak<HotGroup>| {
            if let Some(c) = &cache {
                let weak = weak.clone();
                c.subscribe(
                    &spec.channel,
                    Arc::new(move |msg: &str| {
                        if let Some(g) = weak.upgrade() {
                            g.receive(msg);
                        }
                    }),
                );
            }
            HotGroup {
                detector: Detector::new((spec.max_keys * 4).max(64)),
                window: Mutex::new((Window::new(spec.window), Instant::now())),
                view: Mutex::new(View::new(tick * 5 + Duration::from_millis(200))),
                set: ArcSwap::from_pointee(HotSet::default()),
                metrics: Arc::new(HotMetrics::new(group.name())),
                client: spec
                    .prewarm
                    .then(|| prewarm::client(t.connect, t.read))
                    .flatten(),
                edge: spec
                    .edge
                    .clone()
                    .zip(cache.clone())
                    .map(|(e, c)| FirstHopStore::new(e, c)),
                spec,
                group,
                node,
                tick,
                cache,
            }
        })
    }

    /// The group's hot-key settings.
    pub fn spec(&self) -> &HotSpec {
        &self.spec
    }

    /// The upstream group.
    pub fn group(&self) -> &Arc<UpstreamGroup> {
        &self.group
    }

    /// The group's hot-key metrics.
    pub fn metrics(&self) -> &HotMetrics {
        &self.metrics
    }

    /// The first-hop store, when first-hop serving is on.
    pub fn edge(&self) -> Option<&Arc<FirstHopStore>> {
        self.edge.as_ref()
    }

    /// How often [`tick`](Self::tick) should run.
    pub fn tick_interval(&self) -> Duration {
        self.tick
    }

    /// The request path: counts one request for `key`; says whether the key is hot.
    #[inline]
    pub fn observe(&self, key: &str) -> Option<Hit> {
        self.detector.observe(key);
        self.set.load().lookup(key)
    }

    /// Prewarms the group's members with `key` in the background (the request that saw it
    /// hot first calls this; see [`Hit::prewarm`]).
    pub fn spawn_prewarm(&self, key: &str, host: Option<String>, target: String) {
        let Some(client) = self.client.clone() else {
            return;
        };
        let p = Prewarm {
            key: key.to_string(),
            host,
            target,
        };
        let run = prewarm::run(client, self.group.clone(), self.metrics.clone(), p);
        if let Ok(h) = tokio::runtime::Handle::try_current() {
            h.spawn(run);
        }
    }

    /// A report from the channel (ours come back too, and are skipped).
    fn receive(&self, msg: &str) {
        match report::decode(msg, (self.spec.max_keys * 4).max(16)) {
            Ok(r) if *r.node == *self.node => {}
            Ok(r) => {
                self.metrics.received.inc();
                lock(&self.view).receive(r, Instant::now());
            }
            Err(why) => {
                self.metrics.invalid.inc();
                tracing::debug!(group = %self.group.name(), "hot: ignored a message: {why}");
            }
        }
    }

    /// The background step: closes the tick, publishes this node's report, merges the
    /// cluster view and swaps the hot set when it changed.
    pub async fn tick(&self) {
        let now = Instant::now();
        let counted = self.detector.drain();
        let rates = {
            let mut w = lock(&self.window);
            let took = now.duration_since(w.1);
            w.1 = now;
            w.0.push(counted, took);
            w.0.rates((self.spec.max_keys * 2).max(8))
        };
        let report = Report {
            node: self.node.to_string(),
            rates,
        };
        if let (Some(cache), true) = (&self.cache, report.rates.total > 0.0) {
            match cache
                .publish(&self.spec.channel, &report::encode(&report))
                .await
            {
                Ok(()) => self.metrics.published.inc(),
                Err(e) => {
                    self.metrics.publish_failed.inc();
                    tracing::debug!(group = %self.group.name(), "hot: report not published: {e}");
                }
            }
        }
        let (changes, keys) = {
            let mut v = lock(&self.view);
            v.receive(report, now);
            let changes = v.evaluate(&self.spec, now, SystemTime::now());
            let keys: Vec<(String, bool)> =
                v.hot().iter().map(|(k, h)| (k.clone(), h.edge)).collect();
            (changes, keys)
        };
        let current = self.set.load();
        if !current.same(&keys) {
            let next = HotSet::new(keys.into_iter(), &current, self.spec.prewarm);
            self.metrics.keys.set(next.len() as i64);
            self.set.store(Arc::new(next));
        }
        self.log(&changes);
    }

    fn log(&self, changes: &[Change]) {
        let group = self.group.name();
        for c in changes {
            match c {
                Change::Entered(key, rate, share) => {
                    self.metrics.entered.inc();
                    let nodes = lock(&self.view)
                        .hot()
                        .get(key)
                        .map(|h| {
                            h.nodes
                                .iter()
                                .map(|n| n.0.as_str())
                                .collect::<Vec<_>>()
                                .join(",")
                        })
                        .unwrap_or_default();
                    tracing::info!(
                        group = %group, key = %key, rate = %format!("{rate:.1}"),
                        share = %format!("{:.1}%", share * 100.0), seen_by = %nodes,
                        "hot: key entered the hot set"
                    );
                }
                Change::Left(key, after) => {
                    self.metrics.left.inc();
                    tracing::info!(group = %group, key = %key, hot_for = ?after, "hot: key left the hot set");
                }
            }
        }
    }

    /// What `/status/hot` shows.
    pub fn status(&self) -> GroupStatus {
        let local_top = {
            let w = lock(&self.window);
            w.0.rates(10).keys
        };
        let v = lock(&self.view);
        let mut hot: Vec<KeyStatus> = v
            .hot()
            .iter()
            .map(|(k, h)| KeyStatus {
                key: k.clone(),
                rate: h.rate,
                share: h.share,
                since_unix_ms: h
                    .since
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64),
                nodes: h.nodes.clone(),
                edge: h.edge,
            })
            .collect();
        hot.sort_by(|a, b| b.rate.total_cmp(&a.rate));
        let s = &self.spec;
        GroupStatus {
            node: self.node.to_string(),
            spread: s.spread,
            prewarm: s.prewarm,
            thresholds: Thresholds {
                window_ms: s.window.as_millis() as u64,
                min_rate: s.min_rate,
                min_share: s.min_share,
                exit_ratio: s.exit_ratio,
                hold_ms: s.hold.as_millis() as u64,
                max_keys: s.max_keys,
            },
            cluster_rate: v.total(),
            nodes_reporting: v.nodes(),
            hot,
            local_top,
            edge: self.edge.as_ref().map(|e| {
                let (entries, bytes) = e.usage();
                FirstHopStatus {
                    entries,
                    bytes,
                    capacity: e.spec().capacity,
                    ttl_ms: e.spec().ttl.as_millis() as u64,
                    serving: e.serving(),
                }
            }),
        }
    }
}
