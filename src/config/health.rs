//! `health_check = { kind = "http", path = "/health", ... }` of an upstream group →
//! `HealthCheckSpec`.

use std::time::Duration;

use toml_edit::Item;

use super::diag::Diagnostics;
use super::reader::Tbl;
use crate::upstream::{HealthCheckKind, HealthCheckSpec};

/// Shortest accepted interval (a check round per request would be a load test).
const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// Reads a group's `health_check` table; records every problem in `d`.
pub fn read_health_check(d: &mut Diagnostics, group: &str, item: &Item) -> Option<HealthCheckSpec> {
    let what = format!("upstream `{group}` health_check");
    let t = Tbl::of(d, item, &what)?;
    let kind = t.req_str(d, "kind");
    let path = t.opt_str(d, "path");
    let expect = t.int(d, "expect_status", 100..=599);
    let interval = t
        .duration(d, "interval")
        .unwrap_or(HealthCheckSpec::DEFAULT_INTERVAL);
    let timeout = t
        .duration(d, "timeout")
        .unwrap_or(HealthCheckSpec::DEFAULT_TIMEOUT);
    let rise = t.int(d, "rise", 1..=100).map(|v| v.value as u32);
    let fall = t.int(d, "fall", 1..=100).map(|v| v.value as u32);
    for (key, value) in [("interval", interval), ("timeout", timeout)] {
        if value < MIN_INTERVAL {
            d.push(
                t.key_span(key),
                format!("{what}: `{key}` must be at least {MIN_INTERVAL:?}"),
                Some("e.g. interval = \"2s\", timeout = \"1s\""),
            );
        }
    }
    let kind = match kind {
        Some(k) if k.value == "tcp" => {
            for (key, given) in [
                ("path", path.is_some()),
                ("expect_status", expect.is_some()),
            ] {
                if given {
                    d.push(
                        t.key_span(key),
                        format!("{what}: `{key}` only applies to kind = \"http\""),
                        Some("remove it, or use kind = \"http\""),
                    );
                }
            }
            Some(HealthCheckKind::Tcp)
        }
        Some(k) if k.value == "http" => {
            let path = path.map(|p| (p.value, p.span));
            if let Some((p, span)) = &path {
                if !p.starts_with('/') || p.chars().any(|c| c.is_ascii_whitespace()) {
                    d.push(
                        span.clone(),
                        format!("{what}: path {p:?} must start with `/` and contain no spaces"),
                        Some("e.g. path = \"/health\""),
                    );
                }
            }
            Some(HealthCheckKind::Http {
                path: path.map(|p| p.0).unwrap_or_else(|| "/".to_string()),
                expect_status: expect.map(|e| e.value as u16).unwrap_or(200),
            })
        }
        Some(k) => {
            d.push(
                k.span,
                format!("{what}: unknown kind `{}`", k.value),
                Some("use \"http\" or \"tcp\""),
            );
            None
        }
        None => None,
    };
    t.finish(d, &what);
    let mut spec = HealthCheckSpec::new(kind?);
    spec.interval = interval;
    spec.timeout = timeout;
    spec.rise = rise.unwrap_or(spec.rise);
    spec.fall = fall.unwrap_or(spec.fall);
    Some(spec)
}
