//! Whether a response is stored and for how long (RFC 9111 §3, §4.2), on Pingora's
//! `Cache-Control` parser and stale-window rules, with what `pingora_cache::filters::
//! resp_cacheable` leaves out (see docs/cache.md, "What pingora-cache does"):
//!
//! - the response's age when received (`Age`, and `Date` against our clock: §4.2.3) is
//!   counted, so an object that arrives half-way through its lifetime is fresh for the
//!   other half;
//! - `Expires` is read against the response's `Date` (§4.2.1), not our clock alone;
//! - an invalid `max-age`/`s-maxage` makes the response stale, not heuristically fresh;
//! - heuristic freshness from `Last-Modified` (§4.2.2) and a configured default TTL;
//! - `Set-Cookie` (not stored unless `private=`/`no-cache=` names it, then stripped),
//!   `Vary: *`, a request's `no-store`, partial content;
//! - `Age` is not stored (every hit gets a computed one); an unreadable `Age` is stale;
//! - `Surrogate-Control` (targeted at surrogates, [`surrogate`]) decides over
//!   `Cache-Control` when it states `no-store` or `max-age`; `must-understand` with a status
//!   we do not know is not stored.

use std::time::{Duration, SystemTime};

use httpdate::HttpDate;
use pingora::cache::cache_control::{CacheControl, InterpretCacheControl};
use pingora::cache::filters::calculate_serve_stale_durations;
use pingora::cache::{CacheMeta, CacheMetaDefaults, NoCacheReason, RespCacheable};
use pingora::http::{RequestHeader, ResponseHeader};

use super::fields::listed_names;
use super::spec::HttpCacheSpec;
use super::surrogate;

/// Status codes a cache may store with heuristic freshness (RFC 9110 §15.1).
const HEURISTIC: [u16; 12] = [200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501];

/// Status codes this cache understands (for `must-understand`, RFC 9111 §5.2.2.3).
const UNDERSTOOD: [u16; 17] = [
    200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 405, 410, 414, 500, 501,
];

/// Whether `resp` (the answer to `req`) may be stored, and its cache meta if so.
/// `revalidated`: `resp` is a stored header merged with a 304 (its `Date` may be the old
/// one, so only an `Age` the 304 brought counts as received age).
pub fn decide(
    spec: &HttpCacheSpec,
    req: &RequestHeader,
    resp: &ResponseHeader,
    revalidated: bool,
) -> RespCacheable {
    let no = |why: &'static str| RespCacheable::Uncacheable(NoCacheReason::Custom(why));
    let status = resp.status.as_u16();
    if status == 206 || resp.status.is_informational() {
        return no("partial or informational response");
    }
    if CacheControl::from_req_headers(req).is_some_and(|cc| cc.no_store()) {
        return no("request no-store");
    }
    let cc = CacheControl::from_resp_headers(resp);
    let sc = surrogate::control(resp);
    if sc.as_ref().is_some_and(|sc| sc.no_store()) {
        return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
    }
    let surrogate_decides = sc.as_ref().is_some_and(|sc| sc.has_key("max-age"));
    if let (Some(cc), false) = (&cc, surrogate_decides) {
        let must_understand = cc.has_key("must-understand");
        if must_understand && !UNDERSTOOD.contains(&status) {
            return no("must-understand: status not understood");
        }
        if (cc.no_store() && !must_understand) || cc.private() {
            return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
        }
    }
    if req.headers.contains_key(http::header::AUTHORIZATION)
        && !cc
            .as_ref()
            .is_some_and(|cc| cc.public() || cc.must_revalidate() || cc.has_key("s-maxage"))
    {
        return no("authorization");
    }
    if vary_star(resp) {
        return no("vary *");
    }
    let mut header = resp.clone();
    if let Some(cc) = &cc {
        cc.strip_private_headers(&mut header);
    }
    strip_hop_by_hop(&mut header);
    header.remove_header(surrogate::CONTROL);
    if header.headers.contains_key(http::header::SET_COOKIE) {
        return no("set-cookie");
    }
    let now = SystemTime::now();
    let date = one_date(resp, "date").flatten();
    let stated = match surrogate_decides {
        true => sc.as_ref().and_then(surrogate::lifetime),
        false => lifetime(spec, cc.as_ref(), &header, date, now),
    };
    let Some(mut lifetime) = stated else {
        return RespCacheable::Uncacheable(NoCacheReason::OriginNotCache);
    };
    let age = initial_age(resp, date, now, revalidated).unwrap_or_else(|| {
        lifetime = Duration::ZERO; // an unreadable Age: stale (cache-tests `age-parse`)
        Duration::ZERO
    });
    header.remove_header(&http::header::AGE);
    let created = now.checked_sub(age).unwrap_or(now);
    let fresh_until = match lifetime.is_zero() {
        // Stale at once (Pingora's own convention for a zero TTL).
        true => created.min(now.checked_sub(Duration::from_secs(1)).unwrap_or(now)),
        false => created + lifetime,
    };
    let defaults = CacheMetaDefaults::new(
        |_| None,
        secs(spec.stale_while_revalidate),
        secs(spec.stale_if_error),
    );
    let (swr, sie) = calculate_serve_stale_durations(cc.as_ref(), &defaults);
    RespCacheable::Cacheable(CacheMeta::new(fresh_until, created, swr, sie, header))
}

/// Fields about one connection, not the response (RFC 9110 §7.6.1): never stored.
const HOP_BY_HOP: [&str; 7] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "transfer-encoding",
    "upgrade",
    "trailer",
];

/// Fields a 304 does not update in the stored response besides the hop-by-hop ones (RFC
/// 9111 §3.2: `Content-Length`; what describes the stored body — coding, range, digest —
/// and the validator it was selected by stay the stored response's).
const KEPT_FROM_STORED: [&str; 5] = [
    "content-length",
    "content-encoding",
    "content-range",
    "content-md5",
    "etag",
];

/// The stored header `stored` updated with every field of `not_modified` (RFC 9111
/// §4.3.4), each named field replaced as a whole.
pub fn merge_304(stored: &ResponseHeader, not_modified: &ResponseHeader) -> ResponseHeader {
    let mut merged = stored.clone();
    let mut names: Vec<&http::HeaderName> = not_modified.headers.keys().collect();
    names.dedup();
    for name in names {
        if HOP_BY_HOP.contains(&name.as_str()) || KEPT_FROM_STORED.contains(&name.as_str()) {
            continue;
        }
        merged.remove_header(name);
        for v in not_modified.headers.get_all(name) {
            let _ = merged.append_header(name.clone(), v.clone());
        }
    }
    merged
}

/// Removes what is about one connection, not the response (RFC 9111 §3.1): the
/// hop-by-hop fields and every field `Connection` names.
fn strip_hop_by_hop(header: &mut ResponseHeader) {
    let listed = listed_names(&header.headers, http::header::CONNECTION);
    for name in listed.iter().map(String::as_str).chain(HOP_BY_HOP) {
        header.remove_header(name);
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

/// `Vary: *` (alone or in a list): never matches a later request (RFC 9111 §4.1).
fn vary_star(resp: &ResponseHeader) -> bool {
    listed_names(&resp.headers, http::header::VARY)
        .iter()
        .any(|n| n == "*")
}

/// The one value of date header `name`: `None` if absent, `Some(None)` if repeated or
/// not a date.
fn one_date(resp: &ResponseHeader, name: &str) -> Option<Option<SystemTime>> {
    let mut values = resp.headers.get_all(name).iter();
    let first = values.next()?;
    if values.next().is_some() {
        return Some(None);
    }
    Some(
        first
            .to_str()
            .ok()
            .and_then(|s| s.trim().parse::<HttpDate>().ok())
            .map(SystemTime::from),
    )
}

/// The freshness lifetime (RFC 9111 §4.2.1), `None` when the response states none and no
/// heuristic or default applies (then it is not stored).
fn lifetime(
    spec: &HttpCacheSpec,
    cc: Option<&CacheControl>,
    resp: &ResponseHeader,
    date: Option<SystemTime>,
    now: SystemTime,
) -> Option<Duration> {
    if let Some(cc) = cc {
        if cc.no_cache() {
            return Some(Duration::ZERO);
        }
        for (key, value) in [("s-maxage", cc.s_maxage()), ("max-age", cc.max_age())] {
            match value {
                Ok(Some(s)) => return Some(Duration::from_secs(s as u64)),
                // Present but invalid: stale (RFC 9111 §4.2.1), not a guess.
                Err(_) if cc.has_key(key) => return Some(Duration::ZERO),
                _ => {}
            }
        }
    }
    match one_date(resp, "expires") {
        Some(Some(expires)) => {
            let base = date.unwrap_or(now);
            return Some(expires.duration_since(base).unwrap_or(Duration::ZERO));
        }
        Some(None) => return Some(Duration::ZERO), // invalid Expires: already expired
        None => {}
    }
    let status = resp.status.as_u16();
    let public = cc.is_some_and(|cc| cc.public());
    if !(HEURISTIC.contains(&status) || public) {
        return None;
    }
    if !spec.heuristic_max.is_zero() {
        if let Some(Some(modified)) = one_date(resp, "last-modified") {
            let since = date.unwrap_or(now).duration_since(modified).ok()?;
            return Some((since / 10).min(spec.heuristic_max));
        }
    }
    match status {
        200 | 203 | 204 | 300 | 301 | 308 => spec.default_ttl,
        _ => None,
    }
}

/// The response's age when it arrived (RFC 9111 §4.2.3: the larger of the `Age` it carries
/// and the time since its `Date`).
/// `None` when `Age` is there but not one line of `delta-seconds`: the response is then
/// treated as stale.
fn initial_age(
    resp: &ResponseHeader,
    date: Option<SystemTime>,
    now: SystemTime,
    revalidated: bool,
) -> Option<Duration> {
    let mut lines = resp.headers.get_all(http::header::AGE).iter();
    let age = match (lines.next(), lines.next()) {
        (None, _) => Duration::ZERO,
        (Some(_), Some(_)) => return None,
        (Some(v), None) => {
            // `delta-seconds` only; of a list, the first member of one written without
            // spaces (`0,7200`), as the cache-tests `age-parse` group reads it.
            let first = v.to_str().ok()?.split(',').next()?;
            if first.is_empty() || !first.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            if v.as_bytes().contains(&b' ') {
                return None;
            }
            Duration::from_secs(first.parse::<u64>().ok()?)
        }
    };
    let apparent = match (revalidated, date) {
        (false, Some(d)) => now.duration_since(d).unwrap_or(Duration::ZERO),
        _ => Duration::ZERO,
    };
    Some(age.max(apparent))
}

#[cfg(test)]
mod tests;
