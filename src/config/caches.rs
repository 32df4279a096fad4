//! `[caches.NAME]` sections → [`CacheSpec`] and one [`TieredCache`] engine each.

use std::time::Duration;

use toml_edit::Item;

use super::diag::Diagnostics;
use super::reader::{item_span, Tbl};
use std::sync::Arc;

use crate::cache::{CacheSpec, RedisMode, RedisSpec, SeedSource};
use crate::upstream::Upstreams;

/// Reads every cache section: `(name, spec)` pairs.
pub fn read_caches(
    d: &mut Diagnostics,
    item: Option<&Item>,
    upstreams: &Upstreams,
) -> Vec<(String, CacheSpec)> {
    let Some(item) = item else {
        return Vec::new();
    };
    let Some(table) = item.as_table_like() else {
        d.error(item_span(item), "`caches` must be a table of caches");
        return Vec::new();
    };
    table
        .iter()
        .filter_map(|(name, c)| read_cache(d, name, c, upstreams).map(|s| (name.to_string(), s)))
        .collect()
}

fn read_cache(
    d: &mut Diagnostics,
    name: &str,
    item: &Item,
    upstreams: &Upstreams,
) -> Option<CacheSpec> {
    let t = Tbl::of(d, item, &format!("cache `{name}`"))?;
    let l1 = t.size(d, "l1_capacity").unwrap_or(128 << 20);
    let redis = t
        .item("redis")
        .and_then(|r| read_redis(d, name, r, upstreams));
    t.finish(d, &format!("cache `{name}`"));
    Some(CacheSpec {
        l1_capacity_bytes: l1,
        redis,
    })
}

fn read_redis(
    d: &mut Diagnostics,
    cache: &str,
    item: &Item,
    upstreams: &Upstreams,
) -> Option<RedisSpec> {
    let what = format!("cache `{cache}` redis");
    let t = Tbl::of(d, item, &what)?;
    let mode = t.opt_str(d, "mode");
    let addrs = t.str_list(d, "addresses");
    let seeds_from = t.opt_str(d, "addresses_from").and_then(|g| {
        match upstreams.get(&g.value) {
            Some(group) => {
                let group = group.clone();
                Some(SeedSource(Arc::new(move || {
                    group
                        .members()
                        .iter()
                        .filter(|m| !m.down)
                        .map(|m| format!("redis://{}", m.addr))
                        .collect()
                })))
            }
            None => {
                d.push(
                    g.span,
                    format!("{what}: undefined upstream `{}` in addresses_from", g.value),
                    Some("define [upstreams.NAME] (static servers or a consul source) holding the Redis nodes"),
                );
                None
            }
        }
    });
    let mut urls = Vec::new();
    for a in &addrs {
        let v = a.value.trim();
        if v.starts_with("redis://") || v.starts_with("rediss://") {
            urls.push(v.to_string());
        } else if v.parse::<std::net::SocketAddr>().is_ok() || v.contains(':') {
            urls.push(format!("redis://{v}"));
        } else {
            d.push(
                a.span.clone(),
                format!("invalid redis address {v:?}"),
                Some("write host:port or redis://host:port/db"),
            );
        }
    }
    let mut spec = RedisSpec::new(RedisMode::Single(String::new()));
    let mode = match mode.as_ref().map(|m| m.value.as_str()) {
        None | Some("single") => {
            if urls.len() > 1 {
                d.push(
                    t.key_span("addresses"),
                    format!("{what}: mode \"single\" takes exactly one address"),
                    Some("use mode = \"cluster\" for several seed nodes"),
                );
            }
            Some(RedisMode::Single(urls.first().cloned().unwrap_or_default()))
        }
        Some("cluster") => Some(RedisMode::Cluster(urls.clone())),
        Some(other) => {
            d.push(
                mode.as_ref().and_then(|m| m.span.clone()),
                format!("unknown redis mode `{other}`"),
                Some("use \"single\" or \"cluster\""),
            );
            None
        }
    };
    if addrs.is_empty() && seeds_from.is_none() {
        d.push(
            t.span.clone(),
            format!("{what}: missing `addresses` (or `addresses_from`)"),
            Some("addresses = [\"127.0.0.1:6379\"], or addresses_from = \"<upstream group fed by Consul>\""),
        );
    }
    let ms = Duration::from_millis;
    spec.timeout = t.duration(d, "timeout").unwrap_or(ms(100));
    spec.connect_timeout = t.duration(d, "connect_timeout").unwrap_or(ms(500));
    spec.breaker_failures = t
        .int(d, "breaker_failures", 1..=1000)
        .map(|v| v.value as u32)
        .unwrap_or(5);
    spec.breaker_cooldown = t.duration(d, "breaker_cooldown").unwrap_or(ms(2000));
    spec.lock_ttl = t.duration(d, "lock_ttl").unwrap_or(ms(3000));
    spec.lock_wait = t.duration(d, "lock_wait").unwrap_or(ms(500));
    if let Some(p) = t.opt_str(d, "key_prefix") {
        spec.key_prefix = p.value;
    }
    if let Some(c) = t.opt_str(d, "purge_channel") {
        spec.purge_channel = c.value;
    }
    t.finish(d, &what);
    spec.seeds_from = seeds_from;
    spec.mode = mode?;
    Some(spec)
}
