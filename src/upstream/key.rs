//! Hash-key templates with nginx-style variables, e.g. `"$arg_productId:$arg_shopId"`.
//!
//! Supported variables (nginx names and meaning, with the differences noted):
//! - `$arg_NAME`: first query argument `NAME` (name matched case-insensitively, like nginx);
//!   the value is percent-decoded (`+` is a space). nginx hashes the raw value, so keys that
//!   contain `%XX` escapes map differently from nginx.
//! - `$http_NAME`: request header (`_` in the name matches `-`, case-insensitive); several
//!   headers with that name are joined with `", "`.
//! - `$cookie_NAME`: cookie value from the `Cookie` header(s).
//! - `$uri`: the percent-decoded, normalized path (dot-segments and duplicate slashes
//!   resolved, as nginx; the proxy normalizes every request before routing).
//! - `$request_uri`: the path and query as received, before normalization and rewrites.
//! - `$args`: the raw query string.
//! - `$remote_addr`: the client IP address (no port).
//! - `$host`: the `Host` header (or URI authority) without port, lower-cased.
//! - `$1`..`$9` or `${1}`: capture groups of the group's `path_regex` matched against `$uri`.
//! - `$consumer`: the client an authentication plugin recognised; `$jwt_NAME`: claim `NAME`
//!   of the token `jwt-auth` verified (see [`crate::request::vars`]). Set by plugins, so
//!   they are missing on a request no such plugin accepted.
//!
//! `${name}` may be used to separate a variable from following text. Everything else is
//! literal text. A template evaluates to "missing" when any referenced variable is absent
//! or empty, so the caller can apply the declared fallback instead of hashing a constant.

use std::net::SocketAddr;

use http::header::{HeaderName, COOKIE, HOST};
use pingora::http::RequestHeader;
use regex::Regex;

use crate::request::vars::{is_plugin_variable, Vars};
use crate::request::OriginalTarget;

const SUPPORTED: &str = "supported: $arg_NAME, $http_NAME, $cookie_NAME, $uri, $request_uri, \
                         $args, $remote_addr, $host, $consumer, $jwt_NAME, $1..$9 (with path_regex)";

/// One piece of a template.
#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Arg(String),
    Header(HeaderName),
    Cookie(String),
    Uri,
    RequestUri,
    Args,
    RemoteAddr,
    Host,
    Capture(usize),
    /// A variable set by a plugin (`$consumer`, `$jwt_NAME`).
    Var(Box<str>),
}

/// Why a hash-key template (or its `path_regex`) was rejected; the message names the
/// template and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeyError(String);

impl From<String> for KeyError {
    fn from(message: String) -> Self {
        KeyError(message)
    }
}

/// A parsed hash-key template; cheap to evaluate per request.
#[derive(Debug, Clone)]
pub struct KeyTemplate {
    source: String,
    parts: Vec<Part>,
    path_regex: Option<Regex>,
}

impl KeyTemplate {
    /// Parses a template that does not use regex captures.
    pub fn parse(s: &str) -> Result<KeyTemplate, KeyError> {
        Self::parse_with_path_regex(s, None)
    }

    /// Parses a template; `$1`..`$9` refer to capture groups of `path_regex` applied to the path.
    pub fn parse_with_path_regex(
        s: &str,
        path_regex: Option<&str>,
    ) -> Result<KeyTemplate, KeyError> {
        Self::parse_inner(s, path_regex).map_err(KeyError)
    }

    fn parse_inner(s: &str, path_regex: Option<&str>) -> Result<KeyTemplate, String> {
        let path_regex = match path_regex {
            Some(re) => {
                Some(Regex::new(re).map_err(|e| format!("invalid path_regex `{re}`: {e}"))?)
            }
            None => None,
        };
        let parts = parse_parts(s)?;
        if parts.is_empty() {
            return Err("empty hash key; hint: use a variable such as `$arg_productId`".into());
        }
        for p in &parts {
            if let Part::Capture(n) = p {
                match &path_regex {
                    None => {
                        return Err(format!(
                            "`${n}` in key `{s}` needs a `path_regex` with capture groups; \
                             hint: path_regex = \"^/item/(\\\\d+)\""
                        ))
                    }
                    Some(re) if *n >= re.captures_len() => {
                        return Err(format!(
                            "`${n}` in key `{s}`: path_regex `{}` has only {} capture group(s)",
                            re.as_str(),
                            re.captures_len() - 1
                        ))
                    }
                    Some(_) => {}
                }
            }
        }
        Ok(KeyTemplate {
            source: s.to_string(),
            parts,
            path_regex,
        })
    }

    /// The template as written.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Evaluates the template into `out` (cleared first), without plugin variables (a
    /// `$consumer` or `$jwt_NAME` in it is missing). Returns `false`, with `out` empty, when
    /// a referenced variable is missing or empty.
    pub fn eval(&self, req: &RequestHeader, client: Option<SocketAddr>, out: &mut String) -> bool {
        self.eval_with(req, client, &Vars::new(), out)
    }

    /// Evaluates the template into `out` (cleared first), reading plugin variables from
    /// `vars`. Returns `false`, with `out` empty, when a referenced variable is missing or
    /// empty.
    pub fn eval_with(
        &self,
        req: &RequestHeader,
        client: Option<SocketAddr>,
        vars: &Vars,
        out: &mut String,
    ) -> bool {
        out.clear();
        let mut caps: Option<Option<regex::Captures<'_>>> = None;
        let decoded_path = if self.needs_uri() {
            Some(percent_encoding::percent_decode_str(req.uri.path()).decode_utf8_lossy())
        } else {
            None
        };
        for part in &self.parts {
            let before = out.len();
            match part {
                Part::Lit(l) => {
                    out.push_str(l);
                    continue;
                }
                Part::Arg(name) => push_arg(req, name, out),
                Part::Header(name) => {
                    for (i, v) in req.headers.get_all(name).iter().enumerate() {
                        if i > 0 {
                            out.push_str(", ");
                        }
                        out.push_str(&String::from_utf8_lossy(v.as_bytes()));
                    }
                }
                Part::Cookie(name) => push_cookie(req, name, out),
                Part::Uri => out.push_str(decoded_path.as_deref().unwrap_or_default()),
                Part::RequestUri => out.push_str(&String::from_utf8_lossy(request_uri(req))),
                Part::Args => out.push_str(req.uri.query().unwrap_or_default()),
                Part::RemoteAddr => {
                    if let Some(c) = client {
                        use std::fmt::Write;
                        let _ = write!(out, "{}", c.ip());
                    }
                }
                Part::Host => push_host(req, out),
                Part::Var(name) => out.push_str(vars.get(name).unwrap_or_default()),
                Part::Capture(n) => {
                    let c = caps.get_or_insert_with(|| {
                        let path = decoded_path.as_deref().unwrap_or_default();
                        self.path_regex.as_ref().and_then(|re| re.captures(path))
                    });
                    if let Some(m) = c.as_ref().and_then(|c| c.get(*n)) {
                        out.push_str(m.as_str());
                    }
                }
            }
            if out.len() == before {
                out.clear();
                return false;
            }
        }
        true
    }

    fn needs_uri(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Uri | Part::Capture(_)))
    }
}

/// The target as received (kept by the proxy), else the current one.
fn request_uri(req: &RequestHeader) -> &[u8] {
    match req.extensions.get::<OriginalTarget>() {
        Some(original) => &original.0,
        None => req.raw_path(),
    }
}

fn push_arg(req: &RequestHeader, name: &str, out: &mut String) {
    let Some(q) = req.uri.query() else { return };
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        if k.eq_ignore_ascii_case(name) {
            out.push_str(&v);
            return;
        }
    }
}

fn push_cookie(req: &RequestHeader, name: &str, out: &mut String) {
    for h in req.headers.get_all(COOKIE) {
        let Ok(h) = h.to_str() else { continue };
        for pair in h.split(';') {
            let pair = pair.trim_start();
            if let Some((k, v)) = pair.split_once('=') {
                if k.eq_ignore_ascii_case(name) {
                    out.push_str(v.trim_end());
                    return;
                }
            }
        }
    }
}

fn push_host(req: &RequestHeader, out: &mut String) {
    let host = match req.headers.get(HOST).and_then(|h| h.to_str().ok()) {
        Some(h) => h,
        None => req.uri.host().unwrap_or_default(),
    };
    let host = if host.starts_with('[') {
        host.split_inclusive(']').next().unwrap_or(host)
    } else {
        host.split(':').next().unwrap_or(host)
    };
    out.extend(host.chars().map(|c| c.to_ascii_lowercase()));
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

fn parse_parts(s: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(pos) = rest.find('$') {
        lit.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        let (name, tail) = if let Some(braced) = after.strip_prefix('{') {
            let end = braced
                .find('}')
                .ok_or_else(|| format!("unclosed `${{` in key `{s}`; hint: write `${{name}}`"))?;
            (&braced[..end], &braced[end + 1..])
        } else if after.starts_with(|c: char| c.is_ascii_digit()) {
            // nginx: `$1` is one digit
            after.split_at(1)
        } else {
            let end = after.find(|c| !is_name_char(c)).unwrap_or(after.len());
            after.split_at(end)
        };
        if name.is_empty() || !name.chars().all(is_name_char) {
            return Err(format!(
                "`$` without a variable name in key `{s}`; {SUPPORTED}"
            ));
        }
        if !lit.is_empty() {
            parts.push(Part::Lit(std::mem::take(&mut lit)));
        }
        parts.push(variable(name, s)?);
        rest = tail;
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        parts.push(Part::Lit(lit));
    }
    Ok(parts)
}

fn variable(name: &str, s: &str) -> Result<Part, String> {
    let nonempty = |v: &str, what: &str| {
        if v.is_empty() {
            Err(format!(
                "`${what}` needs a name in key `{s}`, e.g. `${what}id`"
            ))
        } else {
            Ok(v.to_string())
        }
    };
    if let Some(n) = name.strip_prefix("arg_") {
        return Ok(Part::Arg(nonempty(n, "arg_")?));
    }
    if let Some(n) = name.strip_prefix("http_") {
        let n = nonempty(n, "http_")?.replace('_', "-").to_ascii_lowercase();
        let h = HeaderName::from_bytes(n.as_bytes())
            .map_err(|_| format!("`$http_{n}` in key `{s}` is not a valid header name"))?;
        return Ok(Part::Header(h));
    }
    if let Some(n) = name.strip_prefix("cookie_") {
        return Ok(Part::Cookie(nonempty(n, "cookie_")?));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return match name.parse::<usize>() {
            Ok(n) if n >= 1 => Ok(Part::Capture(n)),
            _ => Err(format!("`${name}` in key `{s}`: capture groups start at 1")),
        };
    }
    Ok(match name {
        "uri" => Part::Uri,
        "request_uri" => Part::RequestUri,
        "args" | "query_string" => Part::Args,
        "remote_addr" => Part::RemoteAddr,
        "host" => Part::Host,
        n if is_plugin_variable(n) => Part::Var(n.into()),
        _ => {
            return Err(format!(
                "unknown variable `${name}` in key `{s}`; {SUPPORTED}"
            ))
        }
    })
}

#[cfg(test)]
#[path = "key_tests.rs"]
mod tests;
