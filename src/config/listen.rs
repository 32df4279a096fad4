//! `listen` entries of a server block: a plain `"host:port"` string, or a table with TLS,
//! HTTP/2 and PROXY protocol settings:
//!
//! ```toml
//! listen = [
//!   "0.0.0.0:80",
//!   { addr = "0.0.0.0:443", tls = { certificates = [
//!       { cert = "certs/example.crt", key = "certs/example.key" },
//!       { cert = "certs/wild.crt", key = "certs/wild.key" } ] } },
//!   { addr = "10.0.0.5:8080", http2 = true, proxy_protocol = true },
//! ]
//! ```

use std::net::SocketAddr;
use std::ops::Range;
use std::path::PathBuf;

use toml_edit::{Item, Value};

use super::diag::Diagnostics;
use super::reader::{item_span, Tbl};
use crate::tls::{CertEntry, CertPaths, TlsSpec};

/// One listening socket, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenSpec {
    /// Address to bind.
    pub addr: SocketAddr,
    /// TLS settings; `None` for plain TCP.
    pub tls: Option<TlsSpec>,
    /// HTTP/2: offered by ALPN on TLS (default on); prior-knowledge h2c on plain TCP
    /// (default off).
    pub http2: bool,
    /// A PROXY protocol (v1 or v2) header is required before anything else.
    pub proxy_protocol: bool,
    /// Where the entry is written (for errors about its certificates).
    pub span: Option<Range<usize>>,
}

/// Reads `listen` of server block `name` (an error when there is none).
pub fn read_listen(d: &mut Diagnostics, t: &Tbl, name: &str) -> Vec<ListenSpec> {
    let mut out = Vec::new();
    match t.item("listen") {
        None => {}
        Some(item) => match item.as_array() {
            Some(arr) => out.extend(arr.iter().filter_map(|v| read_entry(d, v))),
            None => d.push(
                item_span(item),
                "`listen` must be an array",
                Some("e.g. listen = [\"0.0.0.0:80\", { addr = \"0.0.0.0:443\", tls = { ... } }]"),
            ),
        },
    }
    if out.is_empty() {
        d.push(
            t.key_span("listen").or(t.span.clone()),
            format!("server `{name}` listens nowhere"),
            Some("add listen = [\"127.0.0.1:8080\"]"),
        );
    }
    out
}

fn read_entry(d: &mut Diagnostics, v: &Value) -> Option<ListenSpec> {
    if let Some(s) = v.as_str() {
        let addr = parse_addr(d, s, v.span())?;
        return Some(ListenSpec {
            addr,
            tls: None,
            http2: false,
            proxy_protocol: false,
            span: v.span(),
        });
    }
    let item = Item::Value(v.clone());
    if v.as_inline_table().is_none() {
        d.push(
            v.span(),
            "a listen entry is \"host:port\" or a table { addr = \"host:port\", ... }",
            None::<String>,
        );
        return None;
    }
    let t = Tbl::of(d, &item, "listen entry")?;
    let addr = t.req_str(d, "addr");
    let tls = t.item("tls").and_then(|i| read_tls(d, i));
    let http2 = t.bool(d, "http2", tls.is_some());
    let proxy_protocol = t.bool(d, "proxy_protocol", false);
    t.finish(d, "listen entry");
    let addr = addr.and_then(|a| parse_addr(d, &a.value, a.span))?;
    Some(ListenSpec {
        addr,
        tls,
        http2,
        proxy_protocol,
        span: v.span(),
    })
}

fn parse_addr(d: &mut Diagnostics, s: &str, span: Option<Range<usize>>) -> Option<SocketAddr> {
    match s.parse() {
        Ok(addr) => Some(addr),
        Err(_) => {
            d.push(
                span,
                format!("invalid listen address {s:?}"),
                Some("write IP:port, e.g. \"127.0.0.1:8080\", \"0.0.0.0:443\" or \"[::]:443\""),
            );
            None
        }
    }
}

fn read_tls(d: &mut Diagnostics, item: &Item) -> Option<TlsSpec> {
    let t = Tbl::of(d, item, "`tls`")?;
    let mut certificates = Vec::new();
    match t.item("certificates").map(|c| (c, c.as_array())) {
        Some((_, Some(arr))) => {
            for v in arr.iter() {
                let item = Item::Value(v.clone());
                let Some(c) = Tbl::of(d, &item, "a certificate entry") else {
                    continue;
                };
                let cert = c.req_str(d, "cert");
                let key = c.req_str(d, "key");
                let self_signed = c.bool(d, "self_signed", false);
                c.finish(d, "a certificate entry");
                if let (Some(cert), Some(key)) = (cert, key) {
                    certificates.push(CertEntry {
                        paths: CertPaths {
                            cert: PathBuf::from(cert.value),
                            key: PathBuf::from(key.value),
                        },
                        self_signed,
                    });
                }
            }
        }
        Some((c, None)) => d.error(item_span(c), "`certificates` must be an array of tables"),
        None => {}
    }
    if certificates.is_empty() {
        d.push(
            t.span.clone(),
            "`tls` needs at least one certificate",
            Some("tls = { certificates = [{ cert = \"site.crt\", key = \"site.key\" }] }"),
        );
    }
    t.finish(d, "`tls`");
    Some(TlsSpec { certificates })
}
