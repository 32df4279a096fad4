//! The per-request state the proxy keeps beside the plugin-visible [`RequestCtx`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use once_cell::sync::Lazy;

use super::answer::Outcome;
use super::body::BodyState;
use super::cache::CacheState;
use super::grpc::GrpcCall;
use super::hot::HotState;
use super::peer::Attempts;
use crate::generation::Generation;
use crate::plugin_api::{PluginInstance, RequestCtx};
use crate::router::Route;

/// Pingora's `CTX` for edgeproxy: the plugin-visible context, the route, and one typed
/// state per concern, each owned by the module that drives it.
pub struct ProxyCtx {
    /// The configuration generation this request started on (kept to its end).
    pub gen: Arc<Generation>,
    /// The server block's position in it.
    pub block: usize,
    /// What plugins see.
    pub req: RequestCtx,
    /// The matched route.
    pub route: Option<Arc<Route>>,
    /// The request body: limit, bytes seen, body phase, refusal (`proxy::body`).
    pub body: BodyState,
    /// Attempts at the upstream: peers tried, timings, status (`proxy::peer`).
    pub upstream: Attempts,
    /// Hot-key handling: counted, hot, captured for the first hop (`proxy::hot`).
    pub hot: HotState,
    /// How the response went: local status, error text, failed filter (`proxy::answer`).
    pub outcome: Outcome,
    /// The response cache: the route's cache, the key, the origin's status (`proxy::cache`).
    pub cache: CacheState,
    /// gRPC: the call's deadline and status (`proxy::grpc`).
    pub grpc: GrpcCall,
    /// Counts this request as in flight until the context is dropped (after the log phase).
    _in_flight: crate::drain::InFlight,
}

impl ProxyCtx {
    /// A fresh context for a request on server block `server` (the `block`th of `gen`).
    pub fn new(server: Arc<str>, gen: Arc<Generation>, block: usize) -> Self {
        ProxyCtx {
            gen,
            block,
            req: RequestCtx::new(server, next_request_id(), None),
            route: None,
            body: BodyState::default(),
            upstream: Attempts::default(),
            hot: HotState::Off,
            outcome: Outcome::default(),
            cache: CacheState::default(),
            grpc: GrpcCall::default(),
            _in_flight: crate::drain::InFlight::start(),
        }
    }

    /// The plugin chain in force: the route's (which includes server-level plugins), or
    /// the server block's when no route matched.
    pub fn chain(&self) -> &[PluginInstance] {
        match &self.route {
            Some(r) => r.chain.all(),
            None => self.gen.block(self.block).plugins.all(),
        }
    }

    /// The chain whose filters still run for this request's response (none once a filter
    /// failed), together with the plugin context, borrowed at once: the filters run with a
    /// mutable context.
    pub fn chain_and_req(&mut self) -> (&[PluginInstance], &mut RequestCtx) {
        let chain = match (&self.route, self.outcome.filter_failed) {
            (_, true) => &[][..],
            (Some(r), false) => r.chain.all(),
            (None, false) => self.gen.block(self.block).plugins.all(),
        };
        (chain, &mut self.req)
    }
}

static PROCESS_NONCE: Lazy<u32> = Lazy::new(rand::random);
/// [`PROCESS_NONCE`] in its 8 hex digits, written once.
static NONCE_HEX: Lazy<[u8; 8]> = Lazy::new(|| {
    let mut hex = [0u8; 8];
    put_hex(&mut hex, u64::from(*PROCESS_NONCE));
    hex
});
static COUNTER: AtomicU64 = AtomicU64::new(0);

/// A process-unique request id: 8 hex digits of per-process nonce, then a counter (12 hex
/// digits). Written digit by digit: `format!` cost ~2,000 instructions per request.
pub fn next_request_id() -> String {
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut id = [0u8; 20];
    let (nonce, count) = id.split_at_mut(8);
    nonce.copy_from_slice(&*NONCE_HEX);
    put_hex(count, n);
    // Hex digits only: always UTF-8.
    std::str::from_utf8(&id).unwrap_or_default().to_owned()
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

impl super::EdgeProxy {
    /// A request's context on generation `gen` (pingora-proxy's `new_ctx` takes the current
    /// one; a direct answer the one its first bytes were routed on).
    pub(super) fn ctx_on(&self, gen: Arc<Generation>) -> Box<ProxyCtx> {
        // Built in its box (`Box::new` would build the ~700 bytes on the stack and copy them).
        crate::boxed::boxed!(ProxyCtx::new(self.name.clone(), gen, self.index))
    }
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
