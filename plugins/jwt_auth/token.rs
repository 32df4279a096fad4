//! Where the token is looked for: `Authorization: Bearer`, a cookie, a query argument, in
//! the configured order; the first source that holds a token wins.

use std::fmt;
use std::str::FromStr;

use edgeproxy::kit::RequestHeader;

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

/// The token of the first source in `sources` that holds a non-empty one.
pub fn find(req: &RequestHeader, sources: &[Source]) -> Option<String> {
    sources.iter().find_map(|s| match s {
        Source::Bearer => bearer(req),
        Source::Cookie(name) => cookie(req, name),
        Source::Query(name) => query(req, name),
    })
}

fn bearer(req: &RequestHeader) -> Option<String> {
    req.headers
        .get_all(http::header::AUTHORIZATION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            let token = rest.trim();
            (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_string())
        })
}

fn cookie(req: &RequestHeader, name: &str) -> Option<String> {
    req.headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (n, value) = pair.trim().split_once('=')?;
            let value = value.trim().trim_matches('"');
            (n.trim() == name && !value.is_empty()).then(|| value.to_string())
        })
}

fn query(req: &RequestHeader, name: &str) -> Option<String> {
    let q = req.uri.query()?;
    form_urlencoded::parse(q.as_bytes())
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.into_owned())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(uri: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", uri.as_bytes(), None).unwrap();
        for (n, v) in headers {
            r.append_header(n.to_string(), *v).unwrap();
        }
        r
    }

    fn sources(s: &[&str]) -> Vec<Source> {
        s.iter().map(|s| s.parse().unwrap()).collect()
    }

    #[test]
    fn parses_sources_and_refuses_unknown_ones() {
        assert_eq!(
            sources(&["bearer", "cookie:jwt", "query:access_token"]),
            vec![
                Source::Bearer,
                Source::Cookie("jwt".into()),
                Source::Query("access_token".into())
            ]
        );
        for bad in ["", "header", "cookie:", "query:", "cookie:a b", "bearer:x"] {
            assert!(bad.parse::<Source>().is_err(), "{bad}");
        }
    }

    #[test]
    fn first_source_holding_a_token_wins() {
        let all = sources(&["bearer", "cookie:jwt", "query:t"]);
        let r = req(
            "/?t=q1",
            &[("authorization", "Bearer h1"), ("cookie", "a=b; jwt=c1")],
        );
        assert_eq!(find(&r, &all).as_deref(), Some("h1"));
        let r = req(
            "/?t=q1",
            &[("authorization", "Basic Zm9v"), ("cookie", "a=b; jwt=c1")],
        );
        assert_eq!(find(&r, &all).as_deref(), Some("c1"));
        let r = req("/?x=1&t=q%2E1", &[("cookie", "jwt=")]);
        assert_eq!(find(&r, &all).as_deref(), Some("q.1"));
        assert_eq!(find(&req("/", &[]), &all), None);
        assert_eq!(
            find(&req("/", &[("authorization", "bearer   ")]), &all),
            None
        );
        let r = req("/?t=q1", &[("authorization", "bearer  h2 ")]);
        assert_eq!(
            find(&r, &sources(&["query:t", "bearer"])).as_deref(),
            Some("q1")
        );
        assert_eq!(find(&r, &sources(&["bearer"])).as_deref(), Some("h2"));
    }
}
