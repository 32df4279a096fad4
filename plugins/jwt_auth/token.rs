//! Where the token is looked for: `Authorization: Bearer`, a cookie, a query argument;
//! exactly one of the configured sources may hold one, once.

use std::fmt;
use std::str::FromStr;

use edgeproxy::kit::{BoxError, RequestHeader};

use crate::support::credentials::{self, Found};

/// One place a token may come from, written `"bearer"`, `"cookie:NAME"` or `"query:NAME"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// `Authorization: Bearer <token>` (scheme matched case-insensitively, RFC 6750 §2.1).
    Bearer,
    /// The cookie `NAME` (RFC 6265 `Cookie` header(s)).
    Cookie(String),
    /// The query argument `NAME` (percent-decoded, first occurrence).
    Query(String),
}

impl FromStr for Source {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let named = |kind: &str, name: &str| {
            if name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == ';') {
                Err(format!("`{s}`: `{kind}:` needs a name"))
            } else {
                Ok(name.to_string())
            }
        };
        match s.split_once(':') {
            None if s.eq_ignore_ascii_case("bearer") => Ok(Source::Bearer),
            Some(("cookie", name)) => named("cookie", name).map(Source::Cookie),
            Some(("query", name)) => named("query", name).map(Source::Query),
            _ => Err(format!(
                "unknown token source `{s}`; expected \"bearer\", \"cookie:NAME\" or \"query:NAME\""
            )),
        }
    }
}

impl<'de> serde::Deserialize<'de> for Source {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Bearer => f.write_str("bearer"),
            Source::Cookie(n) => write!(f, "cookie:{n}"),
            Source::Query(n) => write!(f, "query:{n}"),
        }
    }
}

/// The one token the request carries over `sources`, and which source it came from.
/// [`Found::Many`] when a source holds it twice (two `Authorization` fields, the cookie or
/// the query argument twice) or two sources hold one (RFC 6750 §2: a client MUST NOT use
/// more than one method): the request is refused, never answered with "the first wins".
pub fn find<'s>(req: &RequestHeader, sources: &'s [Source]) -> Found<(&'s Source, String)> {
    let mut found = Found::None;
    for source in sources {
        let token = match source {
            Source::Bearer => bearer(req),
            Source::Cookie(name) => credentials::cookie(req, name),
            Source::Query(name) => credentials::query(req, name),
        };
        match (token, &found) {
            (Found::None, _) => {}
            (Found::One(t), Found::None) if t.is_empty() => {}
            (Found::One(t), Found::None) => found = Found::One((source, t)),
            _ => return Found::Many,
        }
    }
    found
}

/// `Authorization: Bearer <token>` (a field with another scheme holds no token; two fields
/// are [`Found::Many`] whatever their schemes).
fn bearer(req: &RequestHeader) -> Found<String> {
    match credentials::header(req, &http::header::AUTHORIZATION) {
        Found::One(v) => {
            let v = String::from_utf8_lossy(v);
            let token = v.trim().split_once(' ').and_then(|(scheme, rest)| {
                scheme
                    .eq_ignore_ascii_case("bearer")
                    .then(|| rest.trim().to_string())
            });
            token.map_or(Found::None, Found::One)
        }
        Found::None => Found::None,
        Found::Many => Found::Many,
    }
}

/// Takes the token off the request before it goes upstream (`hide_credentials`).
pub fn hide(req: &mut RequestHeader, source: &Source) -> Result<(), BoxError> {
    match source {
        Source::Bearer => {
            req.remove_header(&http::header::AUTHORIZATION);
            Ok(())
        }
        Source::Cookie(name) => credentials::remove_cookie(req, name),
        Source::Query(name) => credentials::remove_query(req, name),
    }
}
