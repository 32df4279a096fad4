//! `[[servers]]` blocks, their routes and plugin entries (read, not built).

use std::net::SocketAddr;

use toml_edit::{InlineTable, Item, Value};

use super::diag::{closest, Diagnostics};
use super::edge;
use super::listen::read_listen;
use super::model::{Limits, PluginSpec, RouteSpec, ServerBlockSpec};
use super::reader::{item_span, table_items, Spanned, Tbl};
use crate::conn::ConnLimits;
use crate::request::{host, path};
use crate::router::PathMatch;

/// Names of the defined upstream groups (routes may only name these).
pub type GroupNames<'a> = &'a [&'a str];

/// Reads every server block (none is an error unless `streams` listen instead).
pub fn read_servers(
    d: &mut Diagnostics,
    item: Option<&Item>,
    groups: GroupNames,
    caches: &[&str],
    streams: bool,
) -> Vec<ServerBlockSpec> {
    let Some(item) = item else {
        if streams {
            return Vec::new();
        }
        d.push(
            None,
            "no [[servers]] block: nothing would listen",
            Some("add [[servers]] with listen = [\"127.0.0.1:8080\"] and at least one [[servers.routes]]"),
        );
        return Vec::new();
    };
    let Some(items) = table_items(item) else {
        d.error(
            item_span(item),
            "`servers` must be an array of tables ([[servers]])",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (i, s) in items.iter().enumerate() {
        if let Some(block) = read_server(d, s, i, groups, caches) {
            out.push(block);
        }
    }
    let mut seen: Vec<SocketAddr> = Vec::new();
    for block in &out {
        // Port 0 entries each get their own port from the OS (server/bind.rs).
        for addr in block
            .listen
            .iter()
            .map(|l| &l.addr)
            .filter(|a| a.port() != 0)
        {
            if seen.contains(addr) {
                d.error(
                    None,
                    format!("address {addr} is listened on by two server blocks"),
                );
            }
            seen.push(*addr);
        }
    }
    out
}

fn read_server(
    d: &mut Diagnostics,
    item: &Item,
    index: usize,
    groups: GroupNames,
    caches: &[&str],
) -> Option<ServerBlockSpec> {
    let t = Tbl::of(d, item, "server block")?;
    let name = t
        .opt_str(d, "name")
        .map(|s| s.value)
        .unwrap_or_else(|| format!("server{index}"));
    let listen = read_listen(d, &t, &name);
    let def = Limits::default();
    let limits = Limits {
        max_header_bytes: t
            .size(d, "max_header_bytes")
            .map_or(def.max_header_bytes, |v| v as usize),
        max_headers: t
            .int(d, "max_headers", 1..=256)
            .map_or(def.max_headers, |v| v.value as usize),
        max_uri_bytes: t
            .size(d, "max_uri_bytes")
            .map_or(def.max_uri_bytes, |v| v as usize),
        max_body_bytes: t.size(d, "max_body_bytes").unwrap_or(def.max_body_bytes),
        underscores_in_headers: t.bool(d, "underscores_in_headers", def.underscores_in_headers),
    };
    let conn = read_conn_limits(d, &t);
    let compression = edge::read_compression(d, t.item("compression"), None, false);
    let real_ip = edge::read_real_ip(d, t.item("real_ip"));
    let plugins = read_plugins(d, t.item("plugins"));
    let mut routes = Vec::new();
    match t.item("routes").map(|r| (r, table_items(r))) {
        Some((_, Some(items))) => {
            let parent = Parent {
                limits: &limits,
                compression: compression.as_ref(),
                caches,
            };
            for r in &items {
                if let Some(route) = read_route(d, r, &parent, groups) {
                    routes.push(route);
                }
            }
        }
        Some((r, None)) => d.error(item_span(r), "`routes` must be an array of tables"),
        None => d.push(
            t.span.clone(),
            format!("server `{name}` has no routes: every request would get 404"),
            Some("add [[servers.routes]] with path_prefix = \"/\" and upstream = \"...\""),
        ),
    }
    t.finish(d, "server block");
    Some(ServerBlockSpec {
        name,
        listen,
        limits,
        conn,
        compression,
        real_ip,
        plugins,
        routes,
    })
}

/// What a route inherits from its server block.
struct Parent<'a> {
    limits: &'a Limits,
    compression: Option<&'a std::sync::Arc<crate::compress::CompressionSpec>>,
    /// The defined `[caches.NAME]` names (a route's `cache.use` names one).
    caches: &'a [&'a str],
}

/// `client_header_timeout`, `client_body_timeout`, `keepalive_timeout`, `max_connections`,
/// `http2_max_concurrent_streams`, `lingering_time`, `lingering_timeout`.
fn read_conn_limits(d: &mut Diagnostics, t: &Tbl) -> ConnLimits {
    let def = ConnLimits::default();
    let mut positive = |key: &'static str, default| match t.duration(d, key) {
        Some(v) if v.is_zero() => {
            d.push(
                t.key_span(key),
                format!("`{key}` must be more than zero"),
                Some("e.g. \"60s\""),
            );
            default
        }
        Some(v) => v,
        None => default,
    };
    let client_header_timeout = positive("client_header_timeout", def.client_header_timeout);
    let client_body_timeout = positive("client_body_timeout", def.client_body_timeout);
    let lingering_timeout = positive("lingering_timeout", def.lingering_timeout);
    ConnLimits {
        client_header_timeout,
        client_body_timeout,
        // Zero is allowed: it turns keep-alive off, as in nginx.
        keepalive_timeout: t
            .duration(d, "keepalive_timeout")
            .unwrap_or(def.keepalive_timeout),
        max_connections: t
            .int(d, "max_connections", 1..=1_000_000)
            .map_or(def.max_connections, |v| v.value as usize),
        http2_max_concurrent_streams: t
            .int(d, "http2_max_concurrent_streams", 1..=10_000)
            .map_or(def.http2_max_concurrent_streams, |v| v.value as u32),
        // Zero is allowed: no lingering close (nginx `lingering_close off`).
        lingering_time: t
            .duration(d, "lingering_time")
            .unwrap_or(def.lingering_time),
        lingering_timeout,
    }
}

fn read_route(
    d: &mut Diagnostics,
    item: &Item,
    parent: &Parent,
    groups: GroupNames,
) -> Option<RouteSpec> {
    let t = Tbl::of(d, item, "route")?;
    let name = t.opt_str(d, "name");
    let hosts = t
        .str_list(d, "hosts")
        .into_iter()
        .filter_map(|h| check_host(d, h))
        .collect();
    let exact = t.opt_str(d, "path");
    let prefix = t.opt_str(d, "path_prefix");
    let regex = t.opt_str(d, "path_regex");
    let mut label = String::from("/");
    let path = match (exact, prefix, regex) {
        (None, None, None) => PathMatch::Any,
        (Some(p), None, None) => {
            label = p.value.clone();
            check_path(d, &p.value, p.span);
            PathMatch::Exact(p.value)
        }
        (None, Some(p), None) => {
            label = format!("{}*", p.value);
            check_path(d, &p.value, p.span);
            PathMatch::Prefix(p.value)
        }
        (None, None, Some(r)) => {
            label = format!("~{}", r.value);
            match regex::Regex::new(&r.value) {
                Ok(re) => PathMatch::Regex(re),
                Err(e) => {
                    d.push(
                        r.span,
                        format!("invalid path_regex: {}", first_line(&e.to_string())),
                        Some("Rust regex syntax; escape `\\` as `\\\\` in basic TOML strings or use '...'"),
                    );
                    PathMatch::Any
                }
            }
        }
        _ => {
            d.push(
                t.span.clone(),
                "a route takes only one of `path`, `path_prefix`, `path_regex`",
                Some("split it into two routes"),
            );
            PathMatch::Any
        }
    };
    let upstream = t.opt_str(d, "upstream");
    if let Some(u) = &upstream {
        if !groups.contains(&u.value.as_str()) {
            let hint = match closest(&u.value, groups.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => "define it under [upstreams.NAME]".to_string(),
            };
            d.push(
                u.span.clone(),
                format!("undefined upstream `{}`", u.value),
                Some(hint),
            );
        }
    }
    let max_body_bytes = t
        .size(d, "max_body_bytes")
        .unwrap_or(parent.limits.max_body_bytes);
    let compression = edge::read_compression(d, t.item("compression"), parent.compression, true);
    let plugins = read_plugins(d, t.item("plugins"));
    let cache = t
        .item("cache")
        .and_then(|c| super::route_cache::read_route_cache(d, c, parent.caches));
    let grpc_web = t.bool(d, "grpc_web", false);
    t.finish(d, "route");
    Some(RouteSpec {
        name: name.map(|n| n.value).unwrap_or(label),
        hosts,
        path,
        upstream: upstream.map(|u| u.value),
        max_body_bytes,
        compression,
        plugins,
        cache,
        grpc_web,
    })
}

fn read_plugins(d: &mut Diagnostics, list: Option<&Item>) -> Vec<PluginSpec> {
    let Some(list) = list else {
        return Vec::new();
    };
    match table_items(list) {
        Some(items) => items.iter().filter_map(|p| read_plugin(d, p)).collect(),
        None => {
            d.push(
                item_span(list),
                "`plugins` must be an array of tables",
                Some("plugins = [{ name = \"respond\", config = { status = 200 } }]"),
            );
            Vec::new()
        }
    }
}

/// A route's host name as requests are matched on it (lowercase, no port, no trailing dot).
fn check_host(d: &mut Diagnostics, h: Spanned<String>) -> Option<String> {
    match host::name(h.value.as_bytes()) {
        Ok(n) if n == h.value.to_ascii_lowercase() => Some(n),
        Ok(n) => {
            d.push(
                h.span,
                format!(
                    "host {:?} never matches: requests are matched on the name alone",
                    h.value
                ),
                Some(format!("write it as {n:?}")),
            );
            None
        }
        Err(e) => {
            d.push(
                h.span,
                format!("invalid host name {:?}: {e}", h.value),
                Some("letters, digits, `-`, `.`, `_`, or an [IPv6] literal"),
            );
            None
        }
    }
}

/// Requests are matched on their normalized, decoded path, so a route's path must be
/// written that way to ever match.
fn check_path(d: &mut Diagnostics, path: &str, span: Option<std::ops::Range<usize>>) {
    if !path.starts_with('/') {
        d.push(
            span,
            format!("path {path:?} must start with `/`"),
            None::<String>,
        );
        return;
    }
    match path::normalize(path.as_bytes()) {
        Ok(n) if n == path => {}
        Ok(n) => d.push(
            span,
            format!(
                "path {path:?} never matches: requests are matched on normalized, decoded paths"
            ),
            Some(format!("write it as {n:?}")),
        ),
        Err(e) => d.push(
            span,
            format!("path {path:?} never matches: a request with it gets 400 ({e})"),
            None::<String>,
        ),
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

fn read_plugin(d: &mut Diagnostics, item: &Item) -> Option<PluginSpec> {
    let t = Tbl::of(d, item, "plugin")?;
    let name = t.req_str(d, "name");
    let id = t.opt_str(d, "id");
    let config = t.item("config");
    t.finish(d, "plugin");
    let name = name?;
    // Both inline tables and `[...config]` header tables become one inline-table value;
    // the values inside keep their spans into the file, so errors point at them.
    let (config, config_span) = match config {
        None => (Value::InlineTable(InlineTable::new()), None),
        Some(Item::Value(v)) if v.is_inline_table() => (v.clone(), v.span()),
        Some(Item::Table(tbl)) => (
            Value::InlineTable(tbl.clone().into_inline_table()),
            tbl.span(),
        ),
        Some(other) => {
            d.error(item_span(other), "plugin `config` must be a table");
            return None;
        }
    };
    Some(PluginSpec {
        name: name.value,
        name_span: name.span,
        id: id.map(|i| i.value),
        config,
        config_span,
    })
}
