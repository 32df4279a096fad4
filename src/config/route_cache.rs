//! A route's `cache = { use = "NAME", key = "…" }` and a cache's `[caches.NAME.http]`.

use toml_edit::Item;

use super::diag::{closest, Diagnostics};
use super::reader::Tbl;
use crate::http_cache::{HttpCacheSpec, RouteCacheSpec, DEFAULT_KEY};
use crate::request::template::Template;

/// Reads a route's `cache` table; `caches` are the defined `[caches.NAME]` names.
pub fn read_route_cache(
    d: &mut Diagnostics,
    item: &Item,
    caches: &[&str],
) -> Option<RouteCacheSpec> {
    let t = Tbl::of(d, item, "route `cache`")?;
    let name = t.req_str(d, "use");
    let key = t.opt_str(d, "key");
    t.finish(d, "route `cache`");
    let name = name?;
    if !caches.contains(&name.value.as_str()) {
        let hint = match closest(&name.value, caches.iter().copied()) {
            Some(c) => format!("did you mean `{c}`?"),
            None => "define it under [caches.NAME] (e.g. l1_capacity = \"256MiB\")".to_string(),
        };
        d.push(
            name.span,
            format!("undefined cache `{}`", name.value),
            Some(hint),
        );
        return None;
    }
    let key = match key {
        None => Template::parse(DEFAULT_KEY).ok()?,
        Some(k) => match Template::parse(&k.value) {
            Ok(t) => t,
            Err(e) => {
                d.push(
                    k.span,
                    format!("route `cache` key: {e}"),
                    Some("e.g. key = \"$scheme$host$request_uri\""),
                );
                return None;
            }
        },
    };
    Some(RouteCacheSpec {
        cache: name.value,
        key,
    })
}

/// Reads `[caches.NAME.http]` (absent: the defaults).
pub fn read_http_spec(d: &mut Diagnostics, cache: &str, item: Option<&Item>) -> HttpCacheSpec {
    let mut spec = HttpCacheSpec::default();
    let Some(item) = item else {
        return spec;
    };
    let what = format!("cache `{cache}` http");
    let Some(t) = Tbl::of(d, item, &what) else {
        return spec;
    };
    if let Some(v) = t.size(d, "l1_capacity") {
        spec.l1_capacity_bytes = v;
    }
    match t.size(d, "max_object_size") {
        Some(0) => d.push(
            t.key_span("max_object_size"),
            format!("{what}: `max_object_size` must be more than 0"),
            Some("e.g. max_object_size = \"8MiB\""),
        ),
        Some(v) => spec.max_object_bytes = v,
        None => {}
    }
    if let Some(v) = t.duration(d, "default_ttl") {
        spec.default_ttl = (!v.is_zero()).then_some(v);
    }
    if let Some(v) = t.duration(d, "heuristic_max") {
        spec.heuristic_max = v;
    }
    if let Some(v) = t.duration(d, "stale_while_revalidate") {
        spec.stale_while_revalidate = v;
    }
    if let Some(v) = t.duration(d, "stale_if_error") {
        spec.stale_if_error = v;
    }
    match t.duration(d, "lock_timeout") {
        Some(v) if v.is_zero() => d.push(
            t.key_span("lock_timeout"),
            format!("{what}: `lock_timeout` must be more than 0"),
            Some("e.g. lock_timeout = \"5s\""),
        ),
        Some(v) => spec.lock_timeout = v,
        None => {}
    }
    spec.forward_tags = t.bool(d, "forward_tags", spec.forward_tags);
    t.finish(d, &what);
    spec
}
