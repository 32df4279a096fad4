//! Hot keys: finding the hash keys that take a large part of a group's traffic, on every
//! node and cluster-wide, and handling them (spreading over all members, prewarming,
//! serving from the first hop).
//!
//! ```text
//! request ─► HotGroup::observe(key) ─► Detector (striped HeavyKeeper sketches, per tick)
//!                 └─ hot? (HotSet snapshot)        │ every tick (window / 10)
//!                                                  ▼
//!             Window (last 10 ticks → rates) ─► this node's Report ─► PUBLISH (Redis)
//!                                                  │                        │
//!             View: latest report of every node ◄──┴────── other nodes ◄────┘
//!               sum → thresholds (rate, share) + hysteresis → HotSet (ArcSwap)
//! ```
//! Per-group settings are `[upstreams.NAME.hot]` ([`HotSpec`](crate::upstream::HotSpec));
//! docs/hot.md is the operator's guide.

mod detector;
mod group;
mod metrics;
mod prewarm;
mod report;
mod service;
mod set;
mod status;
pub mod store;
mod view;
mod window;

pub use detector::{Detector, Tick};
pub use group::HotGroup;
pub use metrics::HotMetrics;
pub use prewarm::HEADER as PREWARM_HEADER;
pub use service::HotService;
pub use set::{Hit, HotSet};
pub use status::{FirstHopStatus, GroupStatus, KeyStatus, Thresholds};
pub use store::{FirstHopStore, Stored};
pub use view::{Change, HotKey, Report, View};
pub use window::{Rates, Window};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::cache::{Caches, TieredCache};
use crate::generation::Carry;
use crate::upstream::Upstreams;

/// The hot-key machinery of every group that has a `hot` table, by group name.
pub type HotGroups = Arc<BTreeMap<String, Arc<HotGroup>>>;

/// Builds the machinery of every group of `upstreams` with a `hot` table, on node `node`;
/// a group's machinery (its windows and hot set) is the previous generation's when its
/// upstream group and cache are (`carry`). Opens nothing (the assembly runs it under `-t`).
pub fn build(upstreams: &Upstreams, caches: &Caches, node: &Arc<str>, carry: &Carry) -> HotGroups {
    let groups = upstreams
        .iter()
        .filter_map(|(name, g)| {
            let spec = g.spec().hot.clone()?;
            let cache = spec.cache.as_ref().and_then(|c| caches.get(c)).cloned();
            // The same upstream group and cache objects mean the same specs.
            let print = format!(
                "{:p}/{:?}/{node}",
                Arc::as_ptr(g),
                cache.as_ref().map(TieredCache::id)
            );
            let hot = carry.get_or(&format!("hot/{name}"), &print, || {
                HotGroup::new(g.clone(), spec, cache, node.clone())
            });
            Some((name.clone(), hot))
        })
        .collect();
    Arc::new(groups)
}
