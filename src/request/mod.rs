//! Request conformance, checked before anything routes on the request: the request-target
//! (origin-form or absolute `http(s)` form, the path normalized the way nginx does) and the
//! `Host` header (RFC 9112 §3.2). A request that fails gets 400.
//!
//! After [`conform`], the request's target is the normalized path (re-encoded where needed)
//! plus the original query, in origin-form: routes match, plugins see and the upstream gets
//! the same path. The target as received stays in the request's extensions as
//! [`OriginalTarget`] (what `$request_uri` is, rewrites or not).
//!
//! The request variables of [`template`] (the one engine for keys, log formats and
//! locations) read the request as conformance left it; [`vars`] are those plugins set.

pub mod fields;
pub mod framing;
pub mod host;
pub mod path;
pub mod template;
pub mod vars;

use bytes::Bytes;
use http::header::HOST;
use http::Version;
use pingora::http::RequestHeader;

pub use framing::FramingError;
pub use host::HostError;
pub use path::PathError;
pub use vars::Vars;

/// What routing uses from a conforming request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The decoded, normalized path (`/a b/c`): what routes match and `$uri` is.
    pub path: String,
    /// The host routes match: lowercase, without port and trailing dot; empty for an
    /// HTTP/1.0 request without `Host`.
    pub host: String,
    /// The request-target now set on the request: `path` re-encoded, plus the query.
    pub forwarded: Vec<u8>,
    /// The request-target as received (what `$request_uri` is).
    pub original: Bytes,
}

/// The request-target exactly as the client sent it (fragment removed), kept in the
/// request's extensions by [`conform`].
#[derive(Debug, Clone)]
pub struct OriginalTarget(pub Bytes);

/// Marks, in the request's extensions, a request that came over TLS (`$scheme` =
/// `https`); set when the client is identified, before any template is evaluated.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// Why a request is refused with 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// Neither origin-form (`/path`) nor absolute-form (`http://host/path`); e.g. `*`,
    /// `host:port`, `path` without the leading slash.
    #[error("request-target is neither a path nor an absolute http(s) URL")]
    TargetForm,
    /// The path cannot be normalized.
    #[error("{0}")]
    Path(#[from] PathError),
    /// HTTP/1.1 (or later) without `Host`.
    #[error("HTTP/1.1 request without Host")]
    MissingHost,
    /// More than one `Host` header.
    #[error("more than one Host header")]
    DuplicateHost,
    /// An invalid `Host` value or absolute-form authority.
    #[error("invalid Host: {0}")]
    Host(#[from] HostError),
}

/// Checks `req` and rewrites its target to the normalized origin-form; returns what routing
/// needs. An absolute-form authority wins over `Host` (as nginx) and becomes the forwarded
/// `Host`.
pub fn conform(req: &mut RequestHeader) -> Result<Target, Invalid> {
    let raw = Bytes::copy_from_slice(req.raw_path());
    let (authority, path_and_query) = split_form(&raw)?;
    let (raw_path, query) = match path_and_query.iter().position(|&b| b == b'?') {
        Some(i) => (&path_and_query[..i], Some(&path_and_query[i..])),
        None => (path_and_query, None),
    };
    if req.version == Version::HTTP_2 && req.headers.get(HOST).is_none() {
        // `:authority` is HTTP/2's Host: made the header, so plugins, `$host` and an
        // HTTP/1 upstream see it as for HTTP/1.1 clients.
        if let Some(a) = req.uri.authority().map(|a| a.as_str().to_owned()) {
            req.insert_header(HOST, a)
                .map_err(|_| Invalid::Host(HostError::BadChar))?;
        }
    }
    let host = check_host(req, authority)?;
    let (path, mut forwarded) = match raw_path.is_empty() {
        true => (String::from("/"), b"/".to_vec()), // `http://host` and `http://host?q`
        false => path::normalize_target(raw_path)?,
    };
    forwarded.extend_from_slice(query.unwrap_or_default());
    // HTTP/2 requests arrive with an absolute URI (`:scheme`, `:authority`): made
    // origin-form like HTTP/1.1's, so logs, plugins and `$request_uri` see one shape.
    if forwarded != raw || req.uri.authority().is_some() {
        // The new target is origin-form ASCII plus the query as received (which Pingora
        // already accepted), so this only fails on bytes it accepted a moment ago.
        req.set_raw_path(&forwarded)
            .map_err(|_| Invalid::TargetForm)?;
    }
    if let Some(authority) = authority {
        if req.headers.get(HOST).map(|h| h.as_bytes()) != Some(authority) {
            let value = http::HeaderValue::from_bytes(authority).map_err(|_| HostError::BadChar)?;
            req.insert_header(HOST, value)
                .map_err(|_| Invalid::Host(HostError::BadChar))?;
        }
    }
    // Kept in the extensions once the request's target differs from it (here, or before a
    // rewrite: [`keep_original`]); until then the target is the original.
    if forwarded != raw || authority.is_some() {
        req.extensions_mut().insert(OriginalTarget(raw.clone()));
    }
    Ok(Target {
        path,
        host,
        forwarded,
        original: raw,
    })
}

/// Keeps the target as received in the request's extensions ([`OriginalTarget`]) before
/// the rewrite phase of `rewriters` (nothing to keep when there are none).
pub fn keep_original<T>(req: &mut RequestHeader, target: &Target, rewriters: &[T]) {
    if !rewriters.is_empty() && req.extensions.get::<OriginalTarget>().is_none() {
        req.extensions_mut()
            .insert(OriginalTarget(target.original.clone()));
    }
}

/// Brings `target` up to date after rewrite plugins ran: when they changed the request's
/// target, the new one (origin-form only) is normalized, and re-encoded on the request
/// when needed, so what routes match and the upstream gets stay one path.
pub fn after_rewrite(req: &mut RequestHeader, target: &mut Target) -> Result<(), Invalid> {
    if req.raw_path() == target.forwarded.as_slice() {
        return Ok(());
    }
    let raw = req.raw_path().to_vec();
    if raw.first() != Some(&b'/') {
        return Err(Invalid::TargetForm);
    }
    let (raw_path, query) = match raw.iter().position(|&b| b == b'?') {
        Some(i) => (&raw[..i], &raw[i..]),
        None => (&raw[..], &[][..]),
    };
    let (path, mut forwarded) = path::normalize_target(raw_path)?;
    forwarded.extend_from_slice(query);
    if forwarded != raw {
        req.set_raw_path(&forwarded)
            .map_err(|_| Invalid::TargetForm)?;
    }
    target.path = path;
    target.forwarded = forwarded;
    Ok(())
}

/// `(authority, path-and-query)` of an origin-form or absolute `http(s)` target.
fn split_form(raw: &[u8]) -> Result<(Option<&[u8]>, &[u8]), Invalid> {
    if raw.first() == Some(&b'/') {
        return Ok((None, raw));
    }
    let rest = strip_prefix_ignore_case(raw, b"http://")
        .or_else(|| strip_prefix_ignore_case(raw, b"https://"))
        .ok_or(Invalid::TargetForm)?;
    let end = rest
        .iter()
        .position(|&b| b == b'/' || b == b'?')
        .unwrap_or(rest.len());
    let authority = &rest[..end];
    host::name(authority)?;
    Ok((Some(authority), &rest[end..]))
}

fn strip_prefix_ignore_case<'a>(s: &'a [u8], prefix: &[u8]) -> Option<&'a [u8]> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// The host routes match: the absolute-form authority's when there is one, else `Host`'s.
fn check_host(req: &RequestHeader, authority: Option<&[u8]>) -> Result<String, Invalid> {
    let mut hosts = req.headers.get_all(HOST).iter();
    let (first, second) = (hosts.next(), hosts.next());
    if second.is_some() {
        return Err(Invalid::DuplicateHost);
    }
    let from_header = first.map(|h| host::name(h.as_bytes())).transpose()?;
    if from_header.is_none() && req.version >= Version::HTTP_11 {
        return Err(Invalid::MissingHost);
    }
    match authority {
        Some(a) => Ok(host::name(a)?),
        None => Ok(from_header.unwrap_or_default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str, hosts: &[&str], version: Version) -> RequestHeader {
        let mut r = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        r.set_version(version);
        for h in hosts {
            r.append_header(HOST, *h).unwrap();
        }
        r
    }

    fn conformed(target: &str, hosts: &[&str]) -> Result<(Target, String), Invalid> {
        let mut r = req(target, hosts, Version::HTTP_11);
        let t = conform(&mut r)?;
        Ok((t, String::from_utf8_lossy(r.raw_path()).into_owned()))
    }

    #[test]
    fn origin_form_is_normalized_and_keeps_its_query() {
        let (t, fwd) = conformed("//%61uth/./x/../secret?a=%2F..&b", &["Ex.com:80"]).unwrap();
        assert_eq!(t.path, "/auth/secret");
        assert_eq!(t.host, "ex.com");
        assert_eq!(fwd, "/auth/secret?a=%2F..&b");
        let (t, fwd) = conformed("/a%20b%3F?q", &["h"]).unwrap();
        assert_eq!((t.path.as_str(), fwd.as_str()), ("/a b?", "/a%20b%3F?q"));
    }

    #[test]
    fn a_rewritten_target_is_normalized_again() {
        let mut r = req("/a?q", &["h"], Version::HTTP_11);
        let mut t = conform(&mut r).unwrap();
        after_rewrite(&mut r, &mut t).unwrap();
        assert_eq!(t.path, "/a");
        r.set_raw_path(b"/b//c/../d%41%3B?q").unwrap();
        after_rewrite(&mut r, &mut t).unwrap();
        assert_eq!(
            (t.path.as_str(), r.raw_path()),
            ("/b/dA;", &b"/b/dA%3B?q"[..])
        );
        r.set_raw_path(b"/../x").unwrap();
        let above = after_rewrite(&mut r, &mut t);
        assert_eq!(above, Err(Invalid::Path(PathError::AboveRoot)));
    }

    #[test]
    fn the_original_target_is_kept() {
        let original = |r: &RequestHeader| {
            let kept = r.extensions.get::<OriginalTarget>().map(|o| o.0.clone());
            kept.unwrap_or_else(|| Bytes::copy_from_slice(r.raw_path()))
        };
        for target in ["/x/../y?q", "/y?q"] {
            let mut r = req(target, &["h"], Version::HTTP_11);
            let t = conform(&mut r).unwrap();
            assert_eq!(original(&r), target.as_bytes());
            keep_original(&mut r, &t, &[()]);
            r.set_raw_path(b"/rewritten").unwrap();
            assert_eq!(original(&r), target.as_bytes());
        }
    }

    #[test]
    fn absolute_form_authority_wins_and_becomes_host() {
        let mut r = req(
            "HTTP://API.example.com:8080/a/../b?q",
            &[],
            Version::HTTP_10,
        );
        let t = conform(&mut r).unwrap();
        assert_eq!(
            (t.host.as_str(), t.path.as_str()),
            ("api.example.com", "/b")
        );
        assert_eq!(r.raw_path(), b"/b?q");
        assert_eq!(r.headers[HOST], "API.example.com:8080");
        let (t, fwd) = conformed("https://h?x", &["h"]).unwrap();
        assert_eq!((t.path.as_str(), fwd.as_str()), ("/", "/?x"));
    }

    #[test]
    fn other_target_forms_are_refused() {
        for target in [
            "*",
            "auth/secret",
            "%20/auth",
            "h:80",
            "ftp://h/x",
            "http:///x",
        ] {
            assert!(conformed(target, &["h"]).is_err(), "{target}");
        }
        assert_eq!(conformed("*", &["h"]), Err(Invalid::TargetForm));
        assert_eq!(
            conformed("http://a b/x", &["h"]),
            Err(Invalid::Host(HostError::BadChar))
        );
    }

    #[test]
    fn host_rules_of_rfc_9112() {
        let bad = |t: &str, hosts: &[&str], v| conform(&mut req(t, hosts, v));
        assert_eq!(bad("/", &[], Version::HTTP_11), Err(Invalid::MissingHost));
        assert_eq!(
            bad("/", &["a", "b"], Version::HTTP_11),
            Err(Invalid::DuplicateHost)
        );
        assert_eq!(
            bad("/", &["a", "b"], Version::HTTP_10),
            Err(Invalid::DuplicateHost)
        );
        assert_eq!(
            bad("/", &["a b"], Version::HTTP_10),
            Err(Invalid::Host(HostError::BadChar))
        );
        assert_eq!(
            bad("/", &[""], Version::HTTP_11),
            Err(Invalid::Host(HostError::Empty))
        );
        let ok = conform(&mut req("/", &[], Version::HTTP_10)).unwrap();
        assert_eq!(ok.host, "");
    }
}
