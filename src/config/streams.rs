//! `[[streams]]` blocks (TCP/TLS stream proxying, nginx's `stream {}`) → `StreamSpec`.

use std::time::Duration;

use toml_edit::Item;

use super::diag::{closest, Diagnostics};
use super::listen::{read_listen, ListenSpec};
use super::reader::{item_span, table_items, Tbl};

/// One `[[streams]]` block as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamSpec {
    /// Name (logs, metrics).
    pub name: String,
    /// Listening sockets: plain, or TLS-terminating (`tls = { certificates = [...] }`).
    pub listen: Vec<ListenSpec>,
    /// The upstream group connections go to (unless an SNI route names another).
    pub upstream: Option<String>,
    /// Read the TLS ClientHello's server name without terminating (nginx `ssl_preread`)
    /// and route by it: `(pattern, group)`, exact or `*.suffix`, first match.
    pub sni_routes: Vec<(String, String)>,
    /// The consistent-hash key, for `balance = "hash"` groups.
    pub hash: StreamHash,
    /// A PROXY protocol header sent to the upstream first.
    pub proxy_protocol: Option<ProxyVersion>,
    /// A connection idle (no byte either way) for this long is closed.
    pub idle_timeout: Duration,
    /// Open client connections at most; more are closed at once.
    pub max_connections: usize,
}

/// What a stream's consistent hash is computed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamHash {
    /// Round robin (or a hash group's fallback): no key.
    None,
    /// The client's IP address (nginx `hash $remote_addr consistent`).
    Client,
    /// The ClientHello's server name (`hash $ssl_preread_server_name consistent`).
    Sni,
}

/// The PROXY protocol version sent upstream (nginx `proxy_protocol on` sends v1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyVersion {
    /// The text header.
    V1,
    /// The binary header.
    V2,
}

/// Reads every `[[streams]]` block; `groups` are the upstream group names.
pub fn read_streams(d: &mut Diagnostics, item: Option<&Item>, groups: &[&str]) -> Vec<StreamSpec> {
    let Some(item) = item else {
        return Vec::new();
    };
    let Some(items) = table_items(item) else {
        d.push(
            item_span(item),
            "`streams` must be an array of tables",
            Some("[[streams]]"),
        );
        return Vec::new();
    };
    items
        .iter()
        .enumerate()
        .filter_map(|(i, s)| read_stream(d, s, i, groups))
        .collect()
}

fn read_stream(d: &mut Diagnostics, item: &Item, i: usize, groups: &[&str]) -> Option<StreamSpec> {
    let t = Tbl::of(d, item, "a [[streams]] block")?;
    let name = t
        .opt_str(d, "name")
        .map_or(format!("stream{i}"), |n| n.value);
    let listen = read_listen(d, &t, &name);
    for l in listen.iter().filter(|l| l.proxy_protocol) {
        d.push(
            l.span.clone(),
            "a stream listener cannot require a PROXY header (yet)",
            Some("remove proxy_protocol; `proxy_protocol` on the [[streams]] block sends one upstream"),
        );
    }
    let group_ref = |d: &mut Diagnostics, g: super::reader::Spanned<String>| {
        if !groups.contains(&g.value.as_str()) {
            let hint = closest(&g.value, groups.iter().copied())
                .map_or("define it under [upstreams.NAME]".to_string(), |c| {
                    format!("did you mean `{c}`?")
                });
            d.push(
                g.span,
                format!("undefined upstream `{}`", g.value),
                Some(hint),
            );
        }
        g.value
    };
    let upstream = t.opt_str(d, "upstream").map(|g| group_ref(d, g));
    let mut sni_routes = Vec::new();
    if let Some(list) = t.item("sni_routes") {
        for r in table_items(list).unwrap_or_default() {
            let Some(rt) = Tbl::of(d, &r, "an sni_routes entry") else {
                continue;
            };
            let (sni, up) = (rt.req_str(d, "sni"), rt.req_str(d, "upstream"));
            rt.finish(d, "an sni_routes entry");
            if let (Some(sni), Some(up)) = (sni, up) {
                sni_routes.push((sni.value.to_ascii_lowercase(), group_ref(d, up)));
            }
        }
    }
    let hash = match t.opt_str(d, "hash") {
        None => StreamHash::None,
        Some(h) if h.value == "client" => StreamHash::Client,
        Some(h) if h.value == "sni" => StreamHash::Sni,
        Some(h) => {
            d.push(
                h.span,
                format!("unknown hash `{}`", h.value),
                Some("use \"client\" or \"sni\""),
            );
            StreamHash::None
        }
    };
    let proxy_protocol = match t.opt_str(d, "proxy_protocol") {
        None => None,
        Some(v) if v.value == "v1" => Some(ProxyVersion::V1),
        Some(v) if v.value == "v2" => Some(ProxyVersion::V2),
        Some(v) => {
            d.push(
                v.span,
                format!("unknown proxy_protocol `{}`", v.value),
                Some("use \"v1\" or \"v2\""),
            );
            None
        }
    };
    let idle_timeout = t
        .duration(d, "idle_timeout")
        .unwrap_or(Duration::from_secs(600));
    let max_connections = t
        .int(d, "max_connections", 1..=1_000_000)
        .map_or(10_000, |v| v.value as usize);
    if upstream.is_none() && sni_routes.is_empty() {
        d.push(
            t.span.clone(),
            format!("stream `{name}` has no `upstream` and no `sni_routes`"),
            Some("add upstream = \"GROUP\""),
        );
    }
    let preread = !sni_routes.is_empty() || hash == StreamHash::Sni;
    if preread && listen.iter().any(|l| l.tls.is_some()) {
        d.push(
            t.key_span("sni_routes").or(t.key_span("hash")),
            format!(
                "stream `{name}`: reading the SNI needs plain listeners (the TLS passes through)"
            ),
            Some("remove `tls` from its listen entries, or the SNI routing"),
        );
    }
    t.finish(d, "a [[streams]] block");
    Some(StreamSpec {
        name,
        listen,
        upstream,
        sni_routes,
        hash,
        proxy_protocol,
        idle_timeout,
        max_connections,
    })
}
