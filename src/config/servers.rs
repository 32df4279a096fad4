//! `[[servers]]` blocks, their routes and plugin chains.

use std::net::SocketAddr;
use std::sync::Arc;

use toml_edit::Item;

use super::diag::{closest, Diagnostics};
use super::model::{Limits, PathMatch, PluginInstance, Route, ServerBlock};
use super::reader::{item_span, table_items, Tbl};
use crate::plugin::{BuildError, Registry, Shared};

/// What building routes needs besides the document.
pub struct BuildCx<'a> {
    /// The plugin registry.
    pub registry: &'a Registry,
    /// Handles passed to plugin factories.
    pub shared: &'a Shared,
    /// The config source (plugin configs are deserialized from their text).
    pub source: &'a str,
}

/// Reads every server block.
pub fn read_servers(d: &mut Diagnostics, item: Option<&Item>, cx: &BuildCx) -> Vec<ServerBlock> {
    let Some(item) = item else {
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
        if let Some(block) = read_server(d, s, i, cx) {
            out.push(block);
        }
    }
    let mut seen: Vec<SocketAddr> = Vec::new();
    for block in &out {
        for addr in &block.listen {
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
    cx: &BuildCx,
) -> Option<ServerBlock> {
    let t = Tbl::of(d, item, "server block")?;
    let name = t
        .opt_str(d, "name")
        .map(|s| s.value)
        .unwrap_or_else(|| format!("server{index}"));
    let mut listen = Vec::new();
    for a in t.str_list(d, "listen") {
        match a.value.parse::<SocketAddr>() {
            Ok(addr) => listen.push(addr),
            Err(_) => d.push(
                a.span,
                format!("invalid listen address {:?}", a.value),
                Some("write IP:port, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:80\""),
            ),
        }
    }
    if listen.is_empty() {
        d.push(
            t.key_span("listen").or(t.span.clone()),
            format!("server `{name}` listens nowhere"),
            Some("add listen = [\"127.0.0.1:8080\"]"),
        );
    }
    let limits = Limits {
        max_header_bytes: t.size(d, "max_header_bytes").unwrap_or(32 << 10) as usize,
        max_headers: t
            .int(d, "max_headers", 1..=256)
            .map(|v| v.value as usize)
            .unwrap_or(100),
        max_uri_bytes: t.size(d, "max_uri_bytes").unwrap_or(8 << 10) as usize,
        max_body_bytes: t.size(d, "max_body_bytes").unwrap_or(1 << 20),
    };
    let plugins = read_plugins(d, t.item("plugins"), cx);
    let mut routes = Vec::new();
    match t.item("routes").map(|r| (r, table_items(r))) {
        Some((_, Some(items))) => {
            for r in &items {
                if let Some(route) = read_route(d, r, &limits, &plugins, cx) {
                    routes.push(Arc::new(route));
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
    Some(ServerBlock {
        name: Arc::from(name),
        listen,
        limits,
        plugins,
        routes,
    })
}

fn read_route(
    d: &mut Diagnostics,
    item: &Item,
    limits: &Limits,
    server_plugins: &[PluginInstance],
    cx: &BuildCx,
) -> Option<Route> {
    let t = Tbl::of(d, item, "route")?;
    let name = t.opt_str(d, "name");
    let hosts = t
        .str_list(d, "hosts")
        .into_iter()
        .map(|h| h.value.to_ascii_lowercase())
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
        if !cx.shared.upstreams.contains_key(&u.value) {
            let hint = match closest(&u.value, cx.shared.upstreams.keys().map(String::as_str)) {
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
    let max_body_bytes = t.size(d, "max_body_bytes").unwrap_or(limits.max_body_bytes);
    let mut plugins = server_plugins.to_vec();
    plugins.extend(read_plugins(d, t.item("plugins"), cx));
    t.finish(d, "route");
    Some(Route {
        name: Arc::from(name.map(|n| n.value).unwrap_or(label)),
        hosts,
        path,
        upstream: upstream.map(|u| u.value),
        max_body_bytes,
        plugins,
    })
}

fn read_plugins(d: &mut Diagnostics, list: Option<&Item>, cx: &BuildCx) -> Vec<PluginInstance> {
    let Some(list) = list else {
        return Vec::new();
    };
    match table_items(list) {
        Some(items) => items.iter().filter_map(|p| read_plugin(d, p, cx)).collect(),
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

fn check_path(d: &mut Diagnostics, path: &str, span: Option<std::ops::Range<usize>>) {
    if !path.starts_with('/') {
        d.push(
            span,
            format!("path {path:?} must start with `/`"),
            None::<String>,
        );
    }
}

fn first_line(s: &str) -> String {
    s.lines().last().unwrap_or(s).trim().to_string()
}

/// Folds a multi-line message (e.g. a regex error with a caret diagram) into one line.
fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if lines.len() > 1 => format!(
            "{}: {}",
            first.trim_end_matches(':'),
            last.trim_start_matches("error: ")
        ),
        _ => s.trim().to_string(),
    }
}

/// serde reports an unknown field at the whole table; point at the key itself instead.
fn field_span(text: &str, message: &str) -> Option<std::ops::Range<usize>> {
    let field = message.strip_prefix("unknown field `")?.split('`').next()?;
    let mut from = 0;
    while let Some(i) = text.get(from..)?.find(field) {
        let at = from + i;
        let before = text[..at].trim_end().chars().last();
        let after = text[at + field.len()..].trim_start().chars().next();
        if matches!(before, Some('{') | Some(',') | Some('"') | None) && after == Some('=') {
            return Some(at..at + field.len());
        }
        from = at + field.len();
    }
    None
}

fn read_plugin(d: &mut Diagnostics, item: &Item, cx: &BuildCx) -> Option<PluginInstance> {
    let t = Tbl::of(d, item, "plugin")?;
    let name = t.req_str(d, "name");
    let config = t.item("config");
    t.finish(d, "plugin");
    let name = name?;
    // Inline tables are deserialized from their own text so errors point inside them;
    // header tables are re-rendered, and errors point at the table header.
    let (text, base) = match config {
        None => ("{}".to_string(), None),
        Some(Item::Value(v)) if v.is_inline_table() => match v.span() {
            Some(span) => (
                cx.source.get(span.clone()).unwrap_or("{}").to_string(),
                Some(span),
            ),
            None => (v.to_string(), None),
        },
        Some(Item::Table(tbl)) => (tbl.clone().into_inline_table().to_string(), None),
        Some(other) => {
            d.error(item_span(other), "plugin `config` must be a table");
            return None;
        }
    };
    let fallback_span = config.and_then(item_span).or(name.span.clone());
    match cx.registry.build(&name.value, &text, cx.shared) {
        Ok(plugin) => Some(PluginInstance {
            name: Arc::from(name.value.as_str()),
            plugin,
        }),
        Err(BuildError::Unknown { name: n, known }) => {
            let hint = match closest(&n, known.iter().copied()) {
                Some(c) => format!("did you mean `{c}`?"),
                None => format!("registered plugins: {}", known.join(", ")),
            };
            d.push(name.span, format!("unknown plugin `{n}`"), Some(hint));
            None
        }
        Err(BuildError::Config {
            plugin,
            message,
            span,
        }) => {
            let span = field_span(&text, &message).or(span);
            let span = match (base, span) {
                (Some(b), Some(s)) => Some(b.start + s.start..b.start + s.end),
                _ => fallback_span,
            };
            d.error(span, format!("plugin `{plugin}`: {message}"));
            None
        }
        Err(e @ BuildError::Build { .. }) => {
            d.error(fallback_span, one_line(&e.to_string()));
            None
        }
    }
}
