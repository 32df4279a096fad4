//! `[upstreams.NAME.hot]` (and its `edge` table) → [`HotSpec`].

use std::time::Duration;

use toml_edit::Item;

use super::diag::Diagnostics;
use super::reader::Tbl;
use crate::upstream::{FirstHopSpec, HotSpec};

/// Shortest window (10 slots of 20 ms; shorter only measures noise).
const MIN_WINDOW: Duration = Duration::from_millis(200);
/// Longest window.
const MAX_WINDOW: Duration = Duration::from_secs(600);

/// Reads a group's `hot` table; `hashed` says whether the group balances by hash (hot keys
/// are hash keys), `caches` are the names of the `[caches.NAME]` sections.
pub fn read_hot(
    d: &mut Diagnostics,
    group: &str,
    item: &Item,
    hashed: bool,
    caches: &[&str],
) -> Option<HotSpec> {
    let what = format!("upstream `{group}` hot");
    let t = Tbl::of(d, item, &what)?;
    let mut spec = HotSpec::new(group);
    if !hashed {
        d.push(
            t.span.clone(),
            format!("{what}: hot keys are hash keys, and this group does not hash"),
            Some("add balance = \"hash\" and hash_key = \"$arg_productId\" to the group"),
        );
    }
    if let Some(w) = t.duration(d, "window") {
        match (MIN_WINDOW..=MAX_WINDOW).contains(&w) {
            true => spec.window = w,
            false => d.push(
                t.key_span("window"),
                format!("{what}: `window` must be between {MIN_WINDOW:?} and {MAX_WINDOW:?}"),
                Some("e.g. window = \"1s\""),
            ),
        }
    }
    if let Some(r) = t.number(d, "min_rate", 0.0..=1e9) {
        spec.min_rate = r.value;
    }
    if let Some(s) = t.number(d, "min_share", 0.0..=1.0) {
        spec.min_share = s.value;
    }
    if spec.min_rate == 0.0 && spec.min_share == 0.0 {
        d.push(
            t.span.clone(),
            format!("{what}: `min_rate` and `min_share` are both 0: every key would be hot"),
            Some("e.g. min_rate = 50, min_share = 0.05"),
        );
    }
    if let Some(x) = t.number(d, "exit_ratio", 0.0..=1.0) {
        spec.exit_ratio = x.value;
    }
    spec.hold = t.duration(d, "hold").unwrap_or(spec.hold);
    if let Some(n) = t.int(d, "max_keys", 1..=1024) {
        spec.max_keys = n.value as usize;
    }
    spec.spread = t.bool(d, "spread", spec.spread);
    spec.prewarm = t.bool(d, "prewarm", spec.prewarm);
    if let Some(c) = t.opt_str(d, "cache") {
        match caches.contains(&c.value.as_str()) {
            true => spec.cache = Some(c.value),
            false => d.push(
                c.span,
                format!("{what}: undefined cache `{}`", c.value),
                Some("name a [caches.NAME] section: its Redis carries the reports and the purges"),
            ),
        }
    }
    if let Some(c) = t.opt_str(d, "channel") {
        spec.channel = c.value;
    }
    if let Some(e) = t.item("edge") {
        spec.edge = read_edge(d, &what, e, spec.max_keys);
        if spec.edge.is_some() && spec.cache.is_none() {
            d.push(
                t.key_span("edge"),
                format!("{what}: edge serving needs `cache`: its purges drop the edge copies"),
                Some("cache = \"NAME\" of the [caches.NAME] the application tier purges"),
            );
        }
    }
    t.finish(d, &what);
    Some(spec)
}

fn read_edge(d: &mut Diagnostics, hot: &str, item: &Item, max_keys: usize) -> Option<FirstHopSpec> {
    let what = format!("{hot} edge");
    let t = Tbl::of(d, item, &what)?;
    let mut spec = FirstHopSpec::default();
    if let Some(n) = t.int(d, "max_keys", 1..=1024) {
        spec.max_keys = n.value as usize;
        if spec.max_keys > max_keys {
            d.push(
                n.span,
                format!(
                    "{what}: `max_keys` = {} is more than the hot set holds ({max_keys})",
                    n.value
                ),
                Some("edge keys are the hottest of the hot keys"),
            );
        }
    }
    if let Some(ttl) = t.duration(d, "ttl") {
        match ttl.is_zero() {
            true => d.push(
                t.key_span("ttl"),
                format!("{what}: `ttl` must be more than 0"),
                Some("e.g. ttl = \"2s\""),
            ),
            false => spec.ttl = ttl,
        }
    }
    spec.capacity = t.size(d, "capacity").unwrap_or(spec.capacity);
    spec.max_body = t.size(d, "max_body").unwrap_or(spec.max_body);
    t.finish(d, &what);
    Some(spec)
}
