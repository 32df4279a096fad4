//! Where authentication plugins (`key-auth`, `jwt-auth`) read a credential, so that a
//! request carries exactly one: a header field given twice, a cookie or a query argument
//! named twice, is [`Found::Many`] — refused with 400 by the plugin, never "the first one
//! wins" (the upstream could read the other). And how a credential is taken off the request
//! before it goes upstream (`hide_credentials`).

use edgeproxy::kit::http::header::{CONNECTION, COOKIE};
use edgeproxy::kit::http::{HeaderName, Uri};
use edgeproxy::kit::{same_after_folding, BoxError, RequestHeader};

/// How many times a credential was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found<T> {
    /// Not there.
    None,
    /// Exactly once.
    One(T),
    /// More than once (even with equal values).
    Many,
}

impl<T> Found<T> {
    fn push(self, v: T) -> Found<T> {
        match self {
            Found::None => Found::One(v),
            _ => Found::Many,
        }
    }
}

/// The value of header `name`, which must be a single field.
pub fn header<'r>(req: &'r RequestHeader, name: &HeaderName) -> Found<&'r [u8]> {
    req.headers
        .get_all(name)
        .iter()
        .fold(Found::None, |f, v| f.push(v.as_bytes()))
}

/// The cookie `name`, across every `Cookie` field (value unquoted; empty ones count).
pub fn cookie(req: &RequestHeader, name: &str) -> Found<String> {
    req.headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(n, _)| n.trim() == name)
        .fold(Found::None, |f, (_, v)| {
            f.push(v.trim().trim_matches('"').to_string())
        })
}

/// The query argument `name` (percent-decoded).
pub fn query(req: &RequestHeader, name: &str) -> Found<String> {
    let Some(q) = req.uri.query() else {
        return Found::None;
    };
    form_urlencoded::parse(q.as_bytes())
        .filter(|(n, _)| n == name)
        .fold(Found::None, |f, (_, v)| f.push(v.into_owned()))
}

/// Removes the cookie `name` from every `Cookie` field (a field left empty goes).
pub fn remove_cookie(req: &mut RequestHeader, name: &str) -> Result<(), BoxError> {
    let fields: Vec<String> = req
        .headers
        .get_all(COOKIE)
        .iter()
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .collect();
    req.remove_header(&COOKIE);
    for field in fields {
        let kept: Vec<&str> = field
            .split(';')
            .map(str::trim)
            .filter(|pair| pair.split_once('=').is_none_or(|(n, _)| n.trim() != name))
            .filter(|pair| !pair.is_empty())
            .collect();
        if !kept.is_empty() {
            req.append_header(COOKIE, kept.join("; "))?;
        }
    }
    Ok(())
}

/// Removes the query argument `name` (every occurrence), keeping the others as sent.
pub fn remove_query(req: &mut RequestHeader, name: &str) -> Result<(), BoxError> {
    let Some(q) = req.uri.query() else {
        return Ok(());
    };
    let kept: Vec<&str> = q
        .split('&')
        .filter(|pair| {
            let raw = pair.split_once('=').map_or(*pair, |(n, _)| n);
            form_urlencoded::parse(raw.as_bytes())
                .next()
                .is_none_or(|(n, _)| n != name)
        })
        .filter(|pair| !pair.is_empty())
        .collect();
    let path = req.uri.path();
    let target = match kept.is_empty() {
        true => path.to_string(),
        false => format!("{path}?{}", kept.join("&")),
    };
    let uri: Uri = target.parse()?;
    req.set_uri(uri);
    Ok(())
}

/// Whether the request's `Connection` header names one of `set` — headers a plugin sets
/// for the upstream, which the hop-by-hop stripping would otherwise remove after it did —
/// or a name an upstream folds into one of them (`x_user_id`).
pub fn connection_names(req: &RequestHeader, set: &[HeaderName]) -> bool {
    req.headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .any(|option| set.iter().any(|h| same_after_folding(option, h.as_str())))
}

/// Removes the headers an upstream would read as `name` (underscore and case variants:
/// `X_User_Id` for `x-user-id`), and `name` itself.
pub fn remove_folded(req: &mut RequestHeader, name: &HeaderName) {
    let variants: Vec<HeaderName> = req
        .headers
        .keys()
        .filter(|k| same_after_folding(k.as_str(), name.as_str()))
        .cloned()
        .collect();
    for v in &variants {
        req.remove_header(v);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str, headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        for (n, v) in headers {
            r.append_header(n.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn twice_is_many_wherever_it_is() {
        let auth = HeaderName::from_static("authorization");
        let r = req(
            "/",
            &[("authorization", "Bearer a"), ("authorization", "Bearer a")],
        );
        assert_eq!(header(&r, &auth), Found::Many);
        let r = req("/", &[("authorization", "Bearer a")]);
        assert_eq!(header(&r, &auth), Found::One(&b"Bearer a"[..]));
        let r = req("/", &[("cookie", "t=1; x=2"), ("cookie", "t=1")]);
        assert_eq!(cookie(&r, "t"), Found::Many);
        assert_eq!(cookie(&r, "x"), Found::One("2".into()));
        assert_eq!(cookie(&r, "y"), Found::None);
        let r = req("/?access_token=a&b=1&access_token=a", &[]);
        assert_eq!(query(&r, "access_token"), Found::Many);
        assert_eq!(query(&r, "b"), Found::One("1".into()));
        let r = req("/?access%5Ftoken=a&access_token=b", &[]);
        assert_eq!(query(&r, "access_token"), Found::Many);
    }

    #[test]
    fn credentials_are_taken_off() {
        let mut r = req(
            "/p?a=1&access_token=x&b=2",
            &[("cookie", "t=1; x=2"), ("cookie", "t=3")],
        );
        remove_cookie(&mut r, "t").unwrap();
        let cookies: Vec<_> = r.headers.get_all("cookie").iter().collect();
        assert_eq!(cookies, ["x=2"]);
        remove_query(&mut r, "access_token").unwrap();
        assert_eq!(r.uri.to_string(), "/p?a=1&b=2");
        let mut r = req("/p?access_token=x", &[]);
        remove_query(&mut r, "access_token").unwrap();
        assert_eq!(r.uri.to_string(), "/p");
    }

    #[test]
    fn connection_and_folded_names() {
        let set = [HeaderName::from_static("x-user-id")];
        for c in ["x-user-id", "close, X-User-Id", "x_user_id"] {
            assert!(
                connection_names(&req("/", &[("connection", c)]), &set),
                "{c}"
            );
        }
        assert!(!connection_names(
            &req("/", &[("connection", "keep-alive")]),
            &set
        ));
        let mut r = req(
            "/",
            &[
                ("x-user-id", "a"),
                ("x_user_id", "b"),
                ("X-User_Id", "c"),
                ("x-other", "d"),
            ],
        );
        remove_folded(&mut r, &set[0]);
        assert_eq!(r.headers.len(), 1);
    }
}
