//! Hot keys on the request path: for a group with a `hot` table the hash key is computed
//! before proxying (not in `upstream_peer`), counted by the group's detector, and a hot key
//! is spread over every member and, the first time, prewarmed on them.

use std::sync::Arc;

use pingora::http::RequestHeader;

use crate::hot::{Hit, HotGroup, HotGroups};
use crate::upstream::UpstreamGroup;

use super::ctx::ProxyCtx;
use super::hashkey;

/// Computes and counts the hash key of a request about to be proxied to `group`, when the
/// group has hot-key handling; remembers in `ctx` whether the key is hot.
pub(crate) fn observe(
    hot: &HotGroups,
    group: &UpstreamGroup,
    req: &RequestHeader,
    ctx: &mut ProxyCtx,
) {
    let Some(h) = hot.get(group.name()) else {
        return;
    };
    ctx.req.hash_key = hashkey::hash_key(group, req, ctx.req.client_addr, &ctx.req.vars);
    ctx.key_ready = true;
    ctx.strip_tags = h.edge().is_some();
    let Some(key) = ctx.req.hash_key.as_deref() else {
        return;
    };
    let Some(hit) = h.observe(key) else {
        return;
    };
    if hit.prewarm {
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let target = req
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_string(), |pq| pq.as_str().to_string());
        h.spawn_prewarm(key, host, target);
    }
    ctx.hot = Some((h.clone(), hit));
}

/// Hot-key handling of a request `proxy` is about to send upstream: counted, and answered
/// from the first hop's edge store when its key is served there.
pub(crate) fn first_hop(
    proxy: &super::EdgeProxy,
    req: &RequestHeader,
    ctx: &mut ProxyCtx,
) -> Option<crate::plugin_api::Response> {
    if proxy.hot.is_empty() {
        return None;
    }
    let group = proxy.group(ctx)?.clone();
    observe(&proxy.hot, &group, req, ctx);
    super::edge::lookup(ctx, req)
}

/// Whether this request's key is hot in a group that spreads hot keys (then it goes
/// round robin instead of to its hash node). Counts the first attempt's handling.
pub(crate) fn spread(hot: &Option<(Arc<HotGroup>, Hit)>, first_attempt: bool) -> bool {
    let Some((h, _)) = hot else {
        return false;
    };
    let spread = h.spec().spread;
    if first_attempt {
        match spread {
            true => h.metrics().spread.inc(),
            false => h.metrics().hashed.inc(),
        }
    }
    spread
}
