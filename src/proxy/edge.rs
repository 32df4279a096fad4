//! First-hop serving on the request path: a hot key's response answered from the group's
//! edge store (`X-Cache: EDGE`), or captured on its way to the client for the next ones.
//! The capture sees the upstream's response before the plugins' filters, as stored
//! responses go through those filters again when served (`local::write_local`).

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};

use crate::cache::CacheLevel;
use crate::hot::edge::{self, EdgeStore, Stored};
use crate::plugin_api::Response;

use super::ctx::ProxyCtx;

/// A response being captured for the edge store.
pub struct Capture {
    key: String,
    store: Arc<EdgeStore>,
    began: u64,
    kept: Option<(ResponseHeader, Box<[String]>, std::time::Duration)>,
    body: BytesMut,
}

/// For a hot key served from the first hop: the stored response, or (none yet) a capture
/// arranged for this request's response.
pub(crate) fn lookup(ctx: &mut ProxyCtx, req: &RequestHeader) -> Option<Response> {
    let (h, hit) = ctx.hot.as_ref()?;
    if !hit.edge {
        return None;
    }
    let store = h.edge()?;
    let key = edge::request_key(req)?;
    if let Some(s) = store.get(&key) {
        h.metrics().edge.inc();
        let mut header = s.header.clone();
        let _ = header.insert_header("x-cache", "EDGE");
        let _ = header.insert_header("age", s.stored.elapsed().as_secs().to_string());
        ctx.req.cache_level = Some(CacheLevel::Edge);
        return Some(Response {
            header,
            body: s.body.clone(),
        });
    }
    if req.method == http::Method::GET {
        ctx.capture = Some(Box::new(Capture {
            began: store.begin(),
            key,
            store: store.clone(),
            kept: None,
            body: BytesMut::new(),
        }));
    }
    None
}

/// The upstream's response header: kept if cacheable (else the capture ends); the tags
/// header never reaches the client of a group that serves from the first hop.
pub(crate) fn on_header(ctx: &mut ProxyCtx, resp: &mut ResponseHeader) {
    if !ctx.strip_tags {
        return;
    }
    if let Some(c) = ctx.capture.as_mut() {
        match edge::cacheable(resp, c.store.spec().ttl) {
            Some(ttl) => c.kept = Some((edge::storable_header(resp), edge::tags(resp), ttl)),
            None => ctx.capture = None,
        }
    }
    resp.remove_header(edge::TAGS);
}

/// A chunk of the upstream's response body; at its end the response is stored.
pub(crate) fn on_body(ctx: &mut ProxyCtx, body: &Option<Bytes>, eos: bool) {
    let Some(c) = ctx.capture.as_mut() else {
        return;
    };
    if let Some(b) = body {
        if (c.body.len() + b.len()) as u64 > c.store.spec().max_body {
            ctx.capture = None;
            return;
        }
        c.body.extend_from_slice(b);
    }
    if !eos {
        return;
    }
    if let Some(c) = ctx.capture.take() {
        if let Some((header, tags, ttl)) = c.kept {
            let stored = Stored {
                header,
                body: c.body.freeze(),
                tags,
                stored: Instant::now(),
                ttl,
            };
            c.store.put(c.key, stored, c.began);
        }
    }
}
