//! The glue between Pingora's HTTP cache callbacks and [`crate::http_cache`]: which requests
//! use the cache, their key, the request's directives on a stored response, the freshness
//! decision, `Vary`, serving stale, `Cache-Status`, and invalidation after unsafe methods.

use http::Method;
use pingora::cache::{
    CacheKey, CacheMeta, CacheOptionOverrides, CachePhase, ForcedFreshness, NoCacheReason,
    RespCacheable,
};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::proxy::Session;
use pingora::{Error, ErrorSource, ErrorType};

use super::ProxyCtx;
use crate::http_cache::{self, Outcome, RouteCache, TAG_HEADERS};
use crate::request::OriginalTarget;

/// The response cache's state for one request.
#[derive(Default)]
pub struct CacheState {
    /// The route's cache, when the route has one.
    route: Option<RouteCache>,
    /// The request's cache key (also for an unsafe method: what it invalidates).
    key: Option<String>,
    /// The status of the origin's last response header (304 on a revalidation).
    upstream_status: Option<u16>,
    /// The origin's 304, whose fields update the stored response's (RFC 9111 §4.3.4).
    not_modified: Option<Box<ResponseHeader>>,
}

/// `request_cache_filter`: GET and HEAD requests of a route with `cache` (whose key
/// template gives a key) use the cache; every method's key is kept for invalidation.
pub fn enable(session: &mut Session, ctx: &mut ProxyCtx) {
    let Some(rc) = ctx.route.as_ref().and_then(|r| r.cache.clone()) else {
        return;
    };
    let req = session.req_header();
    let mut key = String::new();
    if !rc.key.eval(&ctx.req.view(req), &mut key) {
        return; // a variable of the key is missing: not cached (as nginx's empty key)
    }
    if matches!(req.method, Method::GET | Method::HEAD) {
        let mut overrides = CacheOptionOverrides::default();
        overrides.wait_timeout = Some(rc.cache.spec().lock_timeout);
        let c = &rc.cache;
        let lock = Some(c.cache_lock());
        session
            .cache
            .enable(c.storage(), None, None, lock, Some(overrides));
    }
    ctx.cache.key = Some(key);
    ctx.cache.route = Some(rc);
}

/// `cache_key_callback`: the key [`enable`] computed.
pub fn key(ctx: &ProxyCtx) -> pingora::Result<CacheKey> {
    match &ctx.cache.key {
        Some(k) => Ok(CacheKey::new(k.as_bytes(), "")),
        None => Error::e_explain(ErrorType::InternalError, "no cache key"),
    }
}

/// `cache_hit_filter`: the request's own directives on a stored response.
pub fn hit(session: &Session, meta: &CacheMeta, fresh: bool) -> Option<ForcedFreshness> {
    http_cache::hit_freshness(session.req_header(), meta, fresh)
}

/// `response_cache_filter`: [`http_cache::decide`]; after a 304, on the stored header
/// updated with every field of the 304 (Pingora's merge takes only a few).
pub fn cacheable(session: &Session, resp: &ResponseHeader, ctx: &ProxyCtx) -> RespCacheable {
    let Some(rc) = &ctx.cache.route else {
        return RespCacheable::Uncacheable(NoCacheReason::NeverEnabled);
    };
    let spec = rc.cache.spec();
    let req = session.req_header();
    let Some(not_modified) = &ctx.cache.not_modified else {
        let length = resp.headers.get(http::header::CONTENT_LENGTH);
        let length = length.and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
        if length.is_some_and(|l| l > spec.max_object_bytes) {
            return RespCacheable::Uncacheable(NoCacheReason::ResponseTooLarge);
        }
        return http_cache::decide(spec, req, resp, false);
    };
    // The stored header as it was (Pingora's merge already took the 304's ETag).
    let stored = session.cache.maybe_cache_meta();
    let merged = http_cache::merge_304(stored.map_or(resp, |m| m.response_header()), not_modified);
    let old_date = !not_modified.headers.contains_key(http::header::DATE);
    http_cache::decide(spec, req, &merged, old_date)
}

/// `upstream_response_filter`: remembers the origin's status and, for a 304, its fields.
pub fn upstream_response(ctx: &mut ProxyCtx, resp: &ResponseHeader) {
    ctx.cache.upstream_status = Some(resp.status.as_u16());
    if resp.status.as_u16() == 304 && ctx.cache.route.is_some() {
        ctx.cache.not_modified = Some(Box::new(resp.clone()));
    }
}

/// `upstream_request_filter`: on a cached route, tells the origin a surrogate is in front
/// (`Surrogate-Capability`), so it may target `Surrogate-Control` directives at it.
pub fn announce(req: &mut RequestHeader, ctx: &ProxyCtx) {
    if ctx.cache.route.is_some() {
        let _ = req.append_header("surrogate-capability", http_cache::SURROGATE_CAPABILITY);
    }
}

/// `cache_vary_filter`.
pub fn vary(meta: &CacheMeta, req: &RequestHeader) -> Option<pingora::cache::key::HashBinary> {
    http_cache::variance(meta, req)
}

/// `should_serve_stale`: while revalidating (the response's `stale-while-revalidate`
/// window, checked by Pingora), and when the origin failed or answered 5xx (its
/// `stale-if-error` window).
pub fn serve_stale(error: Option<&Error>) -> bool {
    error.is_none_or(|e| {
        e.esource() == &ErrorSource::Upstream || matches!(e.etype(), ErrorType::HTTPStatus(500..))
    })
}

/// `proxy_upstream_filter`: a request with `only-if-cached` that was not answered from the
/// cache must not reach the origin (answered 504).
pub fn must_not_fetch(session: &Session, ctx: &ProxyCtx) -> bool {
    ctx.cache.route.is_some() && http_cache::only_if_cached(session.req_header())
}

/// `response_filter`: `X-Cache` and `Cache-Status`, the origin's purge tags removed (or,
/// with `forward_tags`, replaced by `Surrogate-Key: <cache key> <tags>`), and,
/// after a successful unsafe method, the stored responses of its URI (and of its
/// `Location` / `Content-Location` on the same host) dropped on every node.
pub async fn on_response(session: &mut Session, resp: &mut ResponseHeader, ctx: &ProxyCtx) {
    let Some(rc) = &ctx.cache.route else {
        return;
    };
    if session.cache.phase() == CachePhase::Stale && ctx.cache.upstream_status.is_none() {
        // Served stale because the origin could not be reached: Pingora then closes the
        // client connection after this response, so say so (a client reusing it would
        // get a reset).
        session.set_keepalive(None);
    }
    let tags = http_cache::tags(resp);
    for name in TAG_HEADERS.iter().chain([&http_cache::SURROGATE_CONTROL]) {
        resp.remove_header(*name);
    }
    if let (true, Some(key)) = (rc.cache.spec().forward_tags, &ctx.cache.key) {
        // For a distribution tier's first-hop store: purges of the key or a tag reach it.
        let all = std::iter::once(key.as_str()).chain(tags.iter().map(String::as_str));
        let _ = resp.insert_header("surrogate-key", all.collect::<Vec<_>>().join(" "));
    }
    if let Some(o) = Outcome::of(&session.cache) {
        let _ = resp.insert_header("x-cache", o.x_cache());
        let status = o.cache_status(&session.cache, ctx.cache.upstream_status);
        let _ = resp.insert_header("cache-status", status);
    }
    let req = session.req_header();
    let unsafe_method = !matches!(
        req.method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    );
    if !unsafe_method || !(200..400).contains(&resp.status.as_u16()) {
        return;
    }
    if let Some(k) = &ctx.cache.key {
        rc.cache.invalidate(k).await;
    }
    for field in ["location", "content-location"] {
        if let Some(k) = other_key(rc, req, resp.headers.get(field), ctx) {
            rc.cache.invalidate(&k).await;
        }
    }
}

/// The cache key of the URI a `Location`-like field names, when it is on the request's
/// host (RFC 9111 §4.4: only same-origin URIs are invalidated).
fn other_key(
    rc: &RouteCache,
    req: &RequestHeader,
    value: Option<&http::HeaderValue>,
    ctx: &ProxyCtx,
) -> Option<String> {
    let uri: http::Uri = value?.to_str().ok()?.parse().ok()?;
    if let Some(host) = uri.host() {
        let own = req.uri.host().or_else(|| {
            req.headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.split(':').next().unwrap_or(h))
        })?;
        if !host.eq_ignore_ascii_case(own) {
            return None;
        }
    }
    let target = uri.path_and_query()?.as_str();
    let mut other = req.clone();
    other.set_uri(target.parse().ok()?);
    other
        .extensions_mut()
        .insert(OriginalTarget(bytes::Bytes::copy_from_slice(
            target.as_bytes(),
        )));
    let mut key = String::new();
    rc.key.eval(&ctx.req.view(&other), &mut key).then_some(key)
}

/// `logging`: counts what the cache did (and a wait behind this node's cache lock) and
/// lets go of a cross-node fill lock this node took for a response that was not stored.
pub fn finished(session: &Session, ctx: &ProxyCtx) {
    let (Some(rc), Some(key)) = (&ctx.cache.route, &ctx.cache.key) else {
        return;
    };
    let Some(o) = Outcome::of(&session.cache) else {
        return;
    };
    let metrics = rc.cache.metrics();
    metrics.response(o.metric());
    if session.cache.lock_duration().is_some() {
        metrics.node_lock_waits.inc();
    }
    if o == (Outcome::Miss { stored: false }) || o == Outcome::Bypass {
        rc.cache.release_fill_lock(key);
    }
}
