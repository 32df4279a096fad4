//! The per-request state the proxy keeps beside the plugin-visible [`RequestCtx`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use once_cell::sync::Lazy;

use super::body::BodyPhase;
use crate::plugin_api::{PluginChain, PluginInstance, RequestCtx, Response};
use crate::router::Route;

/// Pingora's `CTX` for edgeproxy.
pub struct ProxyCtx {
    /// What plugins see.
    pub req: RequestCtx,
    /// The matched route.
    pub route: Option<Arc<Route>>,
    /// Peers already tried for this request (skipped on retry).
    pub tried: Vec<SocketAddr>,
    /// Request body bytes seen so far (for the streaming 413 check).
    pub body_seen: u64,
    /// Body limit in force for this request.
    pub body_limit: u64,
    /// The request body phase, when it runs while the body streams (`proxy::body`).
    pub body_phase: BodyPhase,
    /// The answer of a request body plugin that refused the request while its body was
    /// held; `fail_to_proxy` writes it.
    pub body_refusal: Option<Response>,
    /// A request body plugin refused the request while its body was held (the error that
    /// ended the proxying is that answer, not a failure).
    pub body_refused: bool,
    /// Status of a locally written response.
    pub local_status: Option<u16>,
    /// Error text recorded for the log phase.
    pub error: Option<String>,
    /// A header or body filter failed: the error response that replaces the response is
    /// written without running the filters again.
    pub filter_failed: bool,
    /// When the first upstream peer was chosen.
    pub upstream_started: Option<std::time::Instant>,
    /// Time from choosing the peer to its response header.
    pub upstream_time: Option<std::time::Duration>,
    /// Status of the upstream's (final) response header, before any header filter ran.
    pub upstream_status: Option<u16>,
    /// The hash key was computed before proxying (groups with hot-key handling).
    pub key_ready: bool,
    /// The key is hot in the route's group: its machinery and what to do.
    pub hot: Option<(Arc<crate::hot::HotGroup>, crate::hot::Hit)>,
    /// The route's group serves hot keys from the first hop: `Surrogate-Key` is removed
    /// from its responses.
    pub strip_tags: bool,
    /// A hot key's response being captured for the edge store.
    pub(crate) capture: Option<Box<super::edge::Capture>>,
    /// Counts this request as in flight until the context is dropped (after the log phase).
    _in_flight: crate::drain::InFlight,
}

impl ProxyCtx {
    /// A fresh context for a request on server block `server`.
    pub fn new(server: Arc<str>) -> Self {
        ProxyCtx {
            req: RequestCtx::new(server, next_request_id(), None),
            route: None,
            tried: Vec::new(),
            body_seen: 0,
            body_limit: u64::MAX,
            body_phase: BodyPhase::Off,
            body_refusal: None,
            body_refused: false,
            local_status: None,
            error: None,
            filter_failed: false,
            upstream_started: None,
            upstream_time: None,
            upstream_status: None,
            key_ready: false,
            hot: None,
            strip_tags: false,
            capture: None,
            _in_flight: crate::drain::InFlight::start(),
        }
    }

    /// The plugin chain in force: the route's (which includes server-level plugins), or
    /// the server block's when no route matched.
    pub fn chain<'a>(&'a self, server: &'a PluginChain) -> &'a [PluginInstance] {
        match &self.route {
            Some(r) => r.chain.all(),
            None => server.all(),
        }
    }

    /// The chain whose filters still run for this request's response (none once a filter
    /// failed), together with the plugin context, borrowed at once: the filters run with a
    /// mutable context.
    pub fn chain_and_req<'a>(
        &'a mut self,
        server: &'a PluginChain,
    ) -> (&'a [PluginInstance], &'a mut RequestCtx) {
        let chain = match (&self.route, self.filter_failed) {
            (_, true) => &[][..],
            (Some(r), false) => r.chain.all(),
            (None, false) => server.all(),
        };
        (chain, &mut self.req)
    }
}

static PROCESS_NONCE: Lazy<u32> = Lazy::new(rand::random);
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process-unique request id: 8 hex digits of per-process nonce, then a counter (12 hex
/// digits). Written digit by digit: `format!` cost ~2,000 instructions per request.
pub fn next_request_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = [0u8; 20];
    let (nonce, count) = id.split_at_mut(8);
    put_hex(nonce, u64::from(*PROCESS_NONCE));
    put_hex(count, n);
    id.iter().map(|&b| char::from(b)).collect()
}

/// Writes the low `out.len()` hex digits of `v` into `out` (lowercase, zero-padded).
fn put_hex(out: &mut [u8], v: u64) {
    let digits = out.len();
    for (i, slot) in out.iter_mut().enumerate() {
        let d = ((v >> (4 * (digits - 1 - i))) & 0xf) as u8;
        *slot = if d < 10 { b'0' + d } else { b'a' + d - 10 };
    }
}

/// `X-Request-Id`, parsed once (a `&str` name is parsed on every lookup).
static X_REQUEST_ID: http::HeaderName = http::HeaderName::from_static("x-request-id");

/// A request id sent by a trusted previous hop (`X-Request-Id`), kept when it is 1–64
/// characters of `[A-Za-z0-9_-]`, so one id follows a request through both tiers.
pub fn inbound_request_id(req: &pingora::http::RequestHeader) -> Option<String> {
    let v = req.headers.get(&X_REQUEST_ID)?.to_str().ok()?;
    let ok = (1..=64).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    ok.then(|| v.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_are_twenty_hex_digits_like_format() {
        let id = next_request_id();
        assert_eq!(id.len(), 20);
        assert_eq!(&id[..8], format!("{:08x}", *PROCESS_NONCE));
        let mut s = [0u8; 12];
        put_hex(&mut s, 0xabc);
        assert_eq!(&s, format!("{:012x}", 0xabc).as_bytes());
        assert_ne!(next_request_id(), next_request_id());
    }
}
