//! What the request asks of the cache: its `Cache-Control` directives on a stored response
//! (RFC 9111 §5.2.1, which Pingora leaves to the caller), and the `Vary` variant it selects.

use std::time::{Duration, SystemTime};

use pingora::cache::cache_control::{CacheControl, DirectiveKey};
use pingora::cache::key::HashBinary;
use pingora::cache::{CacheMeta, ForcedFreshness, VarianceBuilder};
use pingora::http::RequestHeader;

use super::fields::listed_names;

/// Whether the request allows an answer from the cache without going to the origin at all
/// (`only-if-cached`: a miss is a 504, RFC 9111 §5.2.1.7).
pub fn only_if_cached(req: &RequestHeader) -> bool {
    CacheControl::from_req_headers(req).is_some_and(|cc| cc.only_if_cached())
}

/// How the request's directives change the use of a stored response: `no-cache` (or
/// `Pragma: no-cache` without `Cache-Control`), `max-age` and `min-fresh` force a
/// revalidation; `max-stale` accepts a stale one unless the response forbids it.
pub fn hit_freshness(
    req: &RequestHeader,
    meta: &CacheMeta,
    fresh: bool,
) -> Option<ForcedFreshness> {
    let Some(cc) = CacheControl::from_req_headers(req) else {
        let pragma = req.headers.get_all("pragma").iter().any(|v| {
            v.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|d| d.trim().eq_ignore_ascii_case("no-cache"))
            })
        });
        return pragma.then_some(ForcedFreshness::ForceExpired);
    };
    if cc.no_cache() || cc.has_key("no-cache") {
        return Some(ForcedFreshness::ForceExpired);
    }
    let age = meta.age();
    if let Ok(Some(max_age)) = cc.max_age() {
        if age > Duration::from_secs(max_age as u64) {
            return Some(ForcedFreshness::ForceExpired);
        }
    }
    let now = SystemTime::now();
    if fresh {
        let min_fresh = delta(&cc, "min-fresh")?;
        let left = meta.fresh_until().duration_since(now).unwrap_or_default();
        return (left < min_fresh).then_some(ForcedFreshness::ForceExpired);
    }
    if !cc.has_key("max-stale") || must_revalidate(meta) {
        return None;
    }
    let stale_for = now.duration_since(meta.fresh_until()).unwrap_or_default();
    match delta(&cc, "max-stale") {
        Some(limit) if stale_for > limit => None,
        _ => Some(ForcedFreshness::ForceFresh),
    }
}

/// A request directive's seconds (`None`: absent or not a number).
fn delta(cc: &CacheControl, key: &str) -> Option<Duration> {
    let v = cc
        .directives
        .get(&DirectiveKey::from_lowercase(key))?
        .as_ref()?
        .parse_as_delta_seconds()
        .ok()?;
    Some(Duration::from_secs(v as u64))
}

/// The stored response forbids serving it stale (RFC 9111 §5.2.2.2, §5.2.2.8).
fn must_revalidate(meta: &CacheMeta) -> bool {
    let h = meta.response_header();
    CacheControl::from_resp_headers(h)
        .is_some_and(|cc| cc.must_revalidate() || cc.proxy_revalidate() || cc.has_key("s-maxage"))
}

/// The variant of the stored response `meta` that `req` selects: a hash of the request's
/// values of the fields the response's `Vary` names (names lowercased and sorted, values
/// with their spaces around commas removed); `None` without `Vary`.
pub fn variance(meta: &CacheMeta, req: &RequestHeader) -> Option<HashBinary> {
    let mut names = listed_names(meta.headers(), http::header::VARY);
    if names.is_empty() {
        return None;
    }
    names.sort();
    names.dedup();
    let mut b = VarianceBuilder::new();
    for name in names {
        let value: Vec<u8> = req
            .headers
            .get_all(name.as_str())
            .iter()
            .map(|v| normalize(v.as_bytes()))
            .collect::<Vec<_>>()
            .join(&b","[..]);
        b.add_owned_name_value(name, value);
    }
    b.finalize()
}

/// A field value with the spaces around its commas and at its ends removed.
fn normalize(v: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(v);
    text.split(',')
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(",")
        .into_bytes()
}
