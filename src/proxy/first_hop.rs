//! First-hop serving on the request path: a hot key's response answered from the group's
//! first-hop store (`X-Cache: EDGE`), or captured on its way to the client for the next ones.
//! The capture sees the upstream's response before the plugins' filters, as stored
//! responses go through those filters again when served (`local::write_local`).

use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use pingora::http::{RequestHeader, ResponseHeader};

use crate::cache::CacheLevel;
use crate::hot::store::{self, FirstHopStore, Stored};
use crate::hot::HotGroup;
use crate::plugin_api::Response;

/// A response being captured for the first-hop store.
pub struct Capture {
    key: String,
    store: Arc<FirstHopStore>,
    began: u64,
    kept: Option<(ResponseHeader, Box<[String]>, std::time::Duration)>,
    body: BytesMut,
}

/// For a hot key served from the first hop of `group`: the stored response (`Ok`, with
/// `level` set), or else a capture arranged for this request's response (`Err`; none when
/// the request cannot be stored).
pub(crate) fn lookup(
    group: &HotGroup,
    req: &RequestHeader,
    level: &mut Option<CacheLevel>,
) -> Result<Response, Option<Box<Capture>>> {
    let Some(store) = group.edge() else {
        return Err(None);
    };
    let Some(key) = store::request_key(req) else {
        return Err(None);
    };
    if let Some(s) = store.get(&key) {
        group.metrics().edge.inc();
        let mut header = s.header.clone();
        let _ = header.insert_header("x-cache", "EDGE");
        let _ = header.insert_header("age", s.stored.elapsed().as_secs().to_string());
        *level = Some(CacheLevel::FirstHop);
        return Ok(Response {
            header,
            body: s.body.clone(),
        });
    }
    if req.method != http::Method::GET {
        return Err(None);
    }
    Err(Some(Box::new(Capture {
        began: store.begin(),
        key,
        store: store.clone(),
        kept: None,
        body: BytesMut::new(),
    })))
}

/// The upstream's response header: kept if cacheable, else the capture ends.
pub(crate) fn on_header(capture: &mut Option<Box<Capture>>, resp: &ResponseHeader) {
    if let Some(c) = capture.as_mut() {
        match store::cacheable(resp, c.store.spec().ttl) {
            Some(ttl) => c.kept = Some((store::storable_header(resp), store::tags(resp), ttl)),
            None => *capture = None,
        }
    }
}

/// Removes the tags header (`Surrogate-Key`) of a group that serves from the first hop.
pub(crate) fn strip_tags(resp: &mut ResponseHeader) {
    resp.remove_header(store::TAGS);
}

/// A chunk of the upstream's response body; at its end the response is stored.
pub(crate) fn on_body(capture: &mut Option<Box<Capture>>, body: &Option<Bytes>, eos: bool) {
    let Some(c) = capture.as_mut() else {
        return;
    };
    if let Some(b) = body {
        if (c.body.len() + b.len()) as u64 > c.store.spec().max_body {
            *capture = None;
            return;
        }
        c.body.extend_from_slice(b);
    }
    if !eos {
        return;
    }
    if let Some(c) = capture.take() {
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
