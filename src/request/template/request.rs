//! The request variables every template may use, with nginx's names and meaning (the
//! differences noted):
//!
//! - `$arg_NAME`: first query argument `NAME` (name matched case-insensitively, like nginx);
//!   the value is percent-decoded (`+` is a space). nginx keeps the raw value, so keys that
//!   contain `%XX` escapes map differently from nginx.
//! - `$http_NAME`: request header (`_` in the name matches `-`, case-insensitive); several
//!   headers with that name are joined with `", "` (nginx 1.23+).
//! - `$cookie_NAME`: cookie value from the `Cookie` header(s).
//! - `$uri`: the percent-decoded, normalized path (dot-segments and duplicate slashes
//!   resolved, as nginx; the proxy normalizes every request before routing).
//! - `$request_uri`: the path and query as received, before normalization and rewrites.
//! - `$args` (`$query_string`): the query string, as received.
//! - `$request_method`, `$server_protocol` (`HTTP/1.1`), `$request` (the three: `GET
//!   /p?x=1 HTTP/1.1`, the target as received).
//! - `$remote_addr`: the client IP address (no port; after `real_ip`).
//! - `$host`: the `Host` header (or URI authority) without port, lower-cased.
//! - `$scheme`: `https` for a request that came over TLS, else `http`.
//! - `$consumer`: the client an authentication plugin recognised; `$jwt_NAME`: claim `NAME`
//!   of the token `jwt-auth` verified (see [`crate::request::vars`]). Set by plugins, so
//!   they are missing on a request no such plugin accepted.

use std::borrow::Cow;
use std::net::SocketAddr;

use http::header::{HeaderName, COOKIE, HOST};
use pingora::http::RequestHeader;

use super::sink::Sink;
use crate::request::vars::{is_plugin_variable, Vars};
use crate::request::{OriginalTarget, OverTls};

/// The names [`RequestVar::parse`] knows, for error messages.
pub(super) const NAMES: &str = "$arg_NAME, $http_NAME, $cookie_NAME, $uri, $request_uri, \
                                $args, $request_method, $server_protocol, $request, \
                                $remote_addr, $host, $scheme, $consumer, $jwt_NAME";

/// What request variables read: the request, the client, the variables plugins set.
#[derive(Clone, Copy)]
pub struct RequestView<'a> {
    /// The request header (after conformance and any rewrite so far).
    pub header: &'a RequestHeader,
    /// The client (after `real_ip`), if known.
    pub client: Option<SocketAddr>,
    /// The variables plugins set (`$consumer`, `$jwt_NAME`).
    pub vars: &'a Vars,
}

/// A request variable, resolved from its name when the template is parsed.
#[derive(Debug, Clone)]
pub(super) enum RequestVar {
    Arg(Box<str>),
    Header(HeaderName),
    Cookie(Box<str>),
    Uri,
    RequestUri,
    Args,
    Method,
    Protocol,
    Request,
    RemoteAddr,
    Scheme,
    Host,
    /// Set by a plugin (`$consumer`, `$jwt_NAME`).
    Plugin(Box<str>),
}

/// The result of looking a name up: known, not a request variable, or a malformed one.
pub(super) enum Lookup {
    Found(RequestVar),
    Unknown,
    Bad(String),
}

impl RequestVar {
    /// The request variable `$name` (`template` is for the error message).
    pub(super) fn parse(name: &str, template: &str) -> Lookup {
        let named = |rest: &str, prefix: &str| -> Result<Box<str>, String> {
            match rest.is_empty() {
                true => Err(format!(
                    "`${prefix}` needs a name in `{template}`, e.g. `${prefix}id`"
                )),
                false => Ok(rest.into()),
            }
        };
        let found = |v: Result<RequestVar, String>| match v {
            Ok(v) => Lookup::Found(v),
            Err(e) => Lookup::Bad(e),
        };
        if let Some(n) = name.strip_prefix("arg_") {
            return found(named(n, "arg_").map(RequestVar::Arg));
        }
        if let Some(n) = name.strip_prefix("cookie_") {
            return found(named(n, "cookie_").map(RequestVar::Cookie));
        }
        if let Some(n) = name.strip_prefix("http_") {
            return found(named(n, "http_").and_then(|n| {
                let n = n.replace('_', "-").to_ascii_lowercase();
                HeaderName::from_bytes(n.as_bytes())
                    .map(RequestVar::Header)
                    .map_err(|_| format!("`$http_{n}` in `{template}` is not a valid header name"))
            }));
        }
        Lookup::Found(match name {
            "uri" => RequestVar::Uri,
            "request_uri" => RequestVar::RequestUri,
            "args" | "query_string" => RequestVar::Args,
            "request_method" => RequestVar::Method,
            "server_protocol" => RequestVar::Protocol,
            "request" => RequestVar::Request,
            "remote_addr" => RequestVar::RemoteAddr,
            "host" => RequestVar::Host,
            "scheme" => RequestVar::Scheme,
            n if is_plugin_variable(n) => RequestVar::Plugin(n.into()),
            _ => return Lookup::Unknown,
        })
    }

    /// Whether the value is the decoded path (computed once per evaluation).
    pub(super) fn needs_path(&self) -> bool {
        matches!(self, RequestVar::Uri)
    }

    /// Writes the value for `r` into `out`; writes nothing when it is missing. `path` is the
    /// decoded path when [`needs_path`](Self::needs_path) said so.
    #[inline]
    pub(super) fn write<S: Sink>(&self, r: &RequestView<'_>, path: &str, out: &mut S) {
        let req = r.header;
        match self {
            RequestVar::Arg(name) => push_arg(req, name, out),
            RequestVar::Header(name) => {
                for (i, v) in req.headers.get_all(name).iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_bytes(v.as_bytes());
                }
            }
            RequestVar::Cookie(name) => {
                if let Some(v) = cookie(req, name) {
                    out.push_str(v);
                }
            }
            RequestVar::Uri => out.push_str(path),
            RequestVar::RequestUri => out.push_bytes(request_uri(req)),
            RequestVar::Args => out.push_str(req.uri.query().unwrap_or_default()),
            RequestVar::Method => out.push_str(req.method.as_str()),
            RequestVar::Protocol => out.push_display(format_args!("{:?}", req.version)),
            RequestVar::Request => {
                out.push_str(req.method.as_str());
                out.push_str(" ");
                out.push_bytes(request_uri(req));
                out.push_display(format_args!(" {:?}", req.version));
            }
            RequestVar::RemoteAddr => {
                if let Some(c) = r.client {
                    out.push_display(c.ip());
                }
            }
            RequestVar::Host => out.push_lowercase(host(req)),
            RequestVar::Scheme => out.push_str(match req.extensions.get::<OverTls>() {
                Some(_) => "https",
                None => "http",
            }),
            RequestVar::Plugin(name) => out.push_str(r.vars.get(name).unwrap_or_default()),
        }
    }
}

/// The percent-decoded path (`$uri`).
pub(super) fn decoded_path(req: &RequestHeader) -> Cow<'_, str> {
    percent_encoding::percent_decode_str(req.uri.path()).decode_utf8_lossy()
}

/// The target as received (kept by the proxy), else the current one.
fn request_uri(req: &RequestHeader) -> &[u8] {
    match req.extensions.get::<OriginalTarget>() {
        Some(original) => &original.0,
        None => req.raw_path(),
    }
}

/// The first query argument `name`, decoded.
#[inline]
fn push_arg<S: Sink>(req: &RequestHeader, name: &str, out: &mut S) {
    let Some(q) = req.uri.query() else { return };
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        if k.eq_ignore_ascii_case(name) {
            out.push_str(&v);
            return;
        }
    }
}

fn cookie<'a>(req: &'a RequestHeader, name: &str) -> Option<&'a str> {
    for h in req.headers.get_all(COOKIE) {
        let Ok(h) = h.to_str() else { continue };
        for pair in h.split(';') {
            if let Some((k, v)) = pair.trim_start().split_once('=') {
                if k.eq_ignore_ascii_case(name) {
                    return Some(v.trim_end());
                }
            }
        }
    }
    None
}

/// The `Host` header (else the URI's authority) without its port; not yet lower-cased.
fn host(req: &RequestHeader) -> &str {
    let host = match req.headers.get(HOST).and_then(|h| h.to_str().ok()) {
        Some(h) => h,
        None => req.uri.host().unwrap_or_default(),
    };
    if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    }
}
