//! `[caches.NAME]` sections → [`CacheConfig`]s.

use std::collections::BTreeMap;

use toml_edit::Item;

use super::diag::Diagnostics;
use super::model::CacheConfig;
use super::reader::{item_span, Tbl};
use super::servers::GroupNames;
use crate::cache::{CacheSpec, RedisMode, RedisSpec};
use crate::redis_client::node_url;

/// Reads every cache section, by name.
pub fn read_caches(
    d: &mut Diagnostics,
    item: Option<&Item>,
    groups: GroupNames,
) -> BTreeMap<String, CacheConfig> {
    let Some(item) = item else {
        return BTreeMap::new();
    };
    let Some(table) = item.as_table_like() else {
        d.error(item_span(item), "`caches` must be a table of caches");
        return BTreeMap::new();
    };
    table
        .iter()
        .filter_map(|(name, c)| read_cache(d, name, c, groups).map(|s| (name.to_string(), s)))
        .collect()
}

fn read_cache(
    d: &mut Diagnostics,
    name: &str,
    item: &Item,
    groups: GroupNames,
) -> Option<CacheConfig> {
    let t = Tbl::of(d, item, &format!("cache `{name}`"))?;
    let mut spec = CacheSpec::default();
    if let Some(l1) = t.size(d, "l1_capacity") {
        spec.l1_capacity_bytes = l1;
    }
    let mut addresses_from = None;
    if let Some(r) = t.item("redis") {
        if let Some((redis, from)) = read_redis(d, name, r, groups) {
            spec.redis = Some(redis);
            addresses_from = from;
        }
    }
    let http = super::route_cache::read_http_spec(d, name, t.item("http"));
    t.finish(d, &format!("cache `{name}`"));
    Some(CacheConfig {
        spec,
        http,
        addresses_from,
    })
}

fn read_redis(
    d: &mut Diagnostics,
    cache: &str,
    item: &Item,
    groups: GroupNames,
) -> Option<(RedisSpec, Option<String>)> {
    let what = format!("cache `{cache}` redis");
    let t = Tbl::of(d, item, &what)?;
    let mode = t.opt_str(d, "mode");
    let addrs = t.str_list(d, "addresses");
    let seeds_from = t.opt_str(d, "addresses_from").and_then(|g| {
        match groups.contains(&g.value.as_str()) {
            true => Some(g.value),
            false => {
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
        match node_url(&a.value) {
            Some(url) => urls.push(url),
            None => d.push(
                a.span.clone(),
                format!("invalid redis address {:?}", a.value.trim()),
                Some("write host:port or redis://host:port/db"),
            ),
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
    spec.timeout = t.duration(d, "timeout").unwrap_or(spec.timeout);
    spec.connect_timeout = t
        .duration(d, "connect_timeout")
        .unwrap_or(spec.connect_timeout);
    spec.breaker_failures = t
        .int(d, "breaker_failures", 1..=1000)
        .map_or(spec.breaker_failures, |v| v.value as u32);
    spec.breaker_cooldown = t
        .duration(d, "breaker_cooldown")
        .unwrap_or(spec.breaker_cooldown);
    spec.lock_ttl = t.duration(d, "lock_ttl").unwrap_or(spec.lock_ttl);
    spec.lock_wait = t.duration(d, "lock_wait").unwrap_or(spec.lock_wait);
    if let Some(p) = t.opt_str(d, "key_prefix") {
        spec.key_prefix = p.value;
    }
    if let Some(c) = t.opt_str(d, "purge_channel") {
        spec.purge_channel = c.value;
    }
    match t.duration(d, "purge_timeout") {
        Some(v) if v.is_zero() => d.push(
            t.key_span("purge_timeout"),
            format!("{what}: `purge_timeout` must be more than 0"),
            Some("e.g. purge_timeout = \"1s\" (the whole purge answers within it)"),
        ),
        Some(v) => spec.purge_timeout = v,
        None => {}
    }
    t.finish(d, &what);
    spec.mode = mode?;
    Some((spec, seeds_from))
}
