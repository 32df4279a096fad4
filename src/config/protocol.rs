//! An upstream group's `protocol` and HTTP/2 settings:
//! `protocol = "h2c"`, `h2_max_streams = 100`, `h2_ping_interval = "30s"`.

use super::diag::Diagnostics;
use super::reader::Tbl;
use crate::upstream::{H2Settings, HealthCheckKind, HealthCheckSpec, UpstreamProtocol};

/// Keys that only apply when the group may speak HTTP/2.
const H2_KEYS: [&str; 2] = ["h2_max_streams", "h2_ping_interval"];

/// Reads `protocol` and the `h2_*` keys of group `group` (`tls`: whether it has `tls`);
/// records every problem in `d`.
pub(super) fn read_protocol(
    d: &mut Diagnostics,
    t: &Tbl<'_>,
    group: &str,
    tls: bool,
) -> (UpstreamProtocol, H2Settings) {
    let names = || {
        let n: Vec<_> = UpstreamProtocol::NAMES.iter().map(|(n, _)| *n).collect();
        format!("use one of: {}", n.join(", "))
    };
    let protocol = match t.opt_str(d, "protocol") {
        None => UpstreamProtocol::H1,
        Some(p) => match UpstreamProtocol::parse(&p.value) {
            Some(proto) => proto,
            None => {
                d.push(
                    p.span,
                    format!("unknown protocol `{}`", p.value),
                    Some(names()),
                );
                UpstreamProtocol::H1
            }
        },
    };
    let def = H2Settings::default();
    let max_streams = t
        .int(d, "h2_max_streams", 1..=10_000)
        .map_or(def.max_streams, |v| v.value as usize);
    let ping_interval = t.duration(d, "h2_ping_interval");
    let needs_tls = matches!(protocol, UpstreamProtocol::H2 | UpstreamProtocol::Auto);
    if needs_tls && !tls {
        d.push(
            t.key_span("protocol"),
            format!(
                "upstream `{group}`: protocol = \"{}\" needs `tls` (HTTP/2 is negotiated by TLS ALPN)",
                protocol.name()
            ),
            Some("add tls = true, or use protocol = \"h2c\" for HTTP/2 over plain TCP"),
        );
    }
    if protocol == UpstreamProtocol::H2c && tls {
        d.push(
            t.key_span("protocol"),
            format!("upstream `{group}`: protocol = \"h2c\" is HTTP/2 without TLS, but the group has `tls`"),
            Some("use protocol = \"h2\" for HTTP/2 over TLS"),
        );
    }
    if !protocol.may_be_h2() {
        for key in H2_KEYS {
            if t.item(key).is_some() {
                d.push(
                    t.key_span(key),
                    format!("upstream `{group}`: `{key}` only applies to HTTP/2 groups"),
                    Some("add protocol = \"h2c\", \"h2\" or \"auto\""),
                );
            }
        }
    }
    if ping_interval.is_some_and(|p| p.is_zero()) {
        d.push(
            t.key_span("h2_ping_interval"),
            "`h2_ping_interval` must be more than 0",
            Some("e.g. h2_ping_interval = \"30s\", or leave it out for no pings"),
        );
    }
    let h2 = H2Settings {
        max_streams,
        ping_interval,
    };
    (protocol, h2)
}

/// An HTTP health check speaks HTTP/1.0 in plain text: refused for groups that must
/// speak HTTP/2 (an h2c or h2-only server would never answer it).
pub(super) fn check_health_fits(
    d: &mut Diagnostics,
    t: &Tbl<'_>,
    group: &str,
    protocol: UpstreamProtocol,
    check: Option<&HealthCheckSpec>,
) {
    let http = check.is_some_and(|c| matches!(c.kind, HealthCheckKind::Http { .. }));
    if http && protocol.requires_h2() {
        d.push(
            t.key_span("health_check"),
            format!(
                "upstream `{group}`: an http health check speaks HTTP/1, which a protocol = \"{}\" server does not answer",
                protocol.name()
            ),
            Some("use health_check = { kind = \"tcp\" }"),
        );
    }
}
