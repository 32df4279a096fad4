//! The edge settings of a server block and its routes: `compression` (nginx `gzip*`) and
//! `real_ip` (nginx `set_real_ip_from`, `real_ip_header`, `real_ip_recursive`).

use std::sync::Arc;

use toml_edit::Item;

use super::diag::{closest, Diagnostics};
use super::reader::{item_span, Tbl};
use crate::cidr::{Cidr, Table};
use crate::compress::{Coding, CompressionSpec, Types};
use crate::realip::{RealIp, Source};

/// `compression` of a server block (`parent` = None) or of a route (`parent` = its server
/// block's, inherited key by key, as nginx inherits each `gzip_*` directive): `true` (the
/// defaults, or the server block's), `false` (off) or a table overriding some keys.
/// Absent: off for a server block, the server block's for a route.
pub fn read_compression(
    d: &mut Diagnostics,
    item: Option<&Item>,
    parent: Option<&Arc<CompressionSpec>>,
    route: bool,
) -> Option<Arc<CompressionSpec>> {
    let inherited = || parent.cloned().unwrap_or_default();
    let item = match item {
        None if route => return parent.cloned(),
        None => return None,
        Some(i) => i,
    };
    if let Some(on) = item.as_bool() {
        return on.then(|| Arc::new((*inherited()).clone()));
    }
    if item.as_table_like().is_none() {
        d.push(
            item_span(item),
            "`compression` must be true, false or a table",
            Some("compression = { algorithms = [\"br\", \"gzip\"], min_length = 1024 }"),
        );
        return None;
    }
    let t = Tbl::of(d, item, "compression")?;
    let mut spec = (*inherited()).clone();
    if t.item("algorithms").is_some() {
        spec.algorithms = algorithms(d, &t);
    }
    let level = |d: &mut Diagnostics, key, range, default| {
        t.int(d, key, range).map_or(default, |v| v.value as u32)
    };
    spec.gzip_level = level(d, "gzip_level", 1..=9, spec.gzip_level);
    spec.brotli_level = level(d, "brotli_level", 1..=11, spec.brotli_level);
    spec.zstd_level = level(d, "zstd_level", 1..=19, spec.zstd_level);
    spec.min_length = t.size(d, "min_length").unwrap_or(spec.min_length);
    if t.item("types").is_some() {
        spec.types = types(d, &t);
    }
    spec.vary = t.bool(d, "vary", spec.vary);
    t.finish(d, "compression");
    Some(Arc::new(spec))
}

fn algorithms(d: &mut Diagnostics, t: &Tbl) -> Vec<Coding> {
    let mut out = Vec::new();
    let list = t.str_list(d, "algorithms");
    for a in &list {
        match Coding::from_token(&a.value) {
            Some(c) if out.contains(&c) => {
                d.error(a.span.clone(), format!("`{}` is listed twice", a.value))
            }
            Some(c) => out.push(c),
            None => d.push(
                a.span.clone(),
                format!("unknown compression algorithm {:?}", a.value),
                Some("one of \"br\", \"zstd\", \"gzip\" (in order of preference)"),
            ),
        }
    }
    if list.is_empty() {
        d.push(
            t.key_span("algorithms"),
            "`algorithms` is empty",
            Some("list at least one of \"br\", \"zstd\", \"gzip\", or write compression = false"),
        );
    }
    out
}

fn types(d: &mut Diagnostics, t: &Tbl) -> Types {
    let list = t.str_list(d, "types");
    for e in &list {
        let v = e.value.trim();
        let ok = v == "*"
            || v.split_once('/').is_some_and(|(major, minor)| {
                let token = |s: &str| {
                    !s.is_empty()
                        && s.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
                };
                token(major) && (minor == "*" || token(minor))
            });
        if !ok {
            d.push(
                e.span.clone(),
                format!("invalid media type {:?}", e.value),
                Some("write type/subtype (\"application/json\"), type/* or \"*\", without parameters"),
            );
        }
    }
    Types::new(list.iter().map(|e| e.value.as_str()))
}

/// `real_ip = { from = [...], header = "X-Forwarded-For", recursive = true }` of a server
/// block.
pub fn read_real_ip(d: &mut Diagnostics, item: Option<&Item>) -> Option<Arc<RealIp>> {
    let t = Tbl::of(d, item?, "real_ip")?;
    let mut trusted = Vec::new();
    let from = t.str_list(d, "from");
    for entry in &from {
        match entry.value.parse::<Cidr>() {
            Ok(c) => trusted.push(c),
            Err(e) => d.error(entry.span.clone(), e.to_string()),
        }
    }
    if from.is_empty() {
        d.push(
            t.key_span("from"),
            "`real_ip` needs `from`: the proxies trusted to name the client",
            Some("from = [\"10.0.0.0/8\"] (nginx set_real_ip_from)"),
        );
    }
    let source = match t.opt_str(d, "header") {
        None => Some(Source::Header(http::HeaderName::from_static("x-real-ip"))),
        Some(h) => {
            let s = Source::parse(&h.value);
            if s.is_none() {
                let hint = closest(&h.value, ["X-Forwarded-For", "X-Real-IP", "proxy_protocol"]);
                d.push(
                    h.span,
                    format!("`header` = {:?} is not a header name", h.value),
                    Some(match hint {
                        Some(c) => format!("did you mean {c:?}?"),
                        None => "a header name such as \"X-Forwarded-For\", or \"proxy_protocol\""
                            .into(),
                    }),
                );
            }
            s
        }
    };
    let recursive = t.bool(d, "recursive", false);
    t.finish(d, "real_ip");
    Some(Arc::new(RealIp {
        trusted: Table::new(&trusted),
        source: source?,
        recursive,
    }))
}
