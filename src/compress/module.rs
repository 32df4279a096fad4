//! The Pingora downstream module that compresses: one per request, configured by the proxy
//! once it knows the server block and route ([`configure`]). Pingora runs it on every
//! response written to the client: proxied ones after `response_filter` /
//! `response_body_filter`, local ones inside `Session::write_response_header` / `_body`.

use std::any::Any;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::ResponseHeader;
use pingora::modules::http::{HttpModule, HttpModuleBuilder, Module};
use pingora::protocols::http::compression::{Algorithm, Encode, COMPRESSION_ERROR};
use pingora::proxy::Session;
use pingora::{Error, Result};

use super::brotli::BrotliEncoder;
use super::decide::{apply, decide, Decision, RequestInfo};
use super::{Coding, CompressionSpec};

type Encoder = Box<dyn Encode + Send + Sync>;

/// Per-request compression state.
#[derive(Default)]
pub struct CompressModule {
    spec: Option<Arc<CompressionSpec>>,
    request: RequestInfo,
    encoder: Option<Encoder>,
}

/// Reads what compression needs from the request (before any plugin can change its
/// `Accept-Encoding`) and sets the server block's settings. Called by the proxy first
/// thing for a block where compression is on somewhere (the block or one of its routes);
/// elsewhere the module costs nothing but its allocation.
pub fn start(session: &mut Session, spec: Option<&Arc<CompressionSpec>>) {
    let request = RequestInfo::of(session.req_header());
    if let Some(m) = session.downstream_modules_ctx.get_mut::<CompressModule>() {
        m.request = request;
        m.spec = spec.cloned();
    }
}

/// Sets how the current request's response is compressed (`None`: not at all): the
/// route's settings once it is known, when they differ from the block's.
pub fn configure(session: &mut Session, spec: Option<&Arc<CompressionSpec>>) {
    if let Some(m) = session.downstream_modules_ctx.get_mut::<CompressModule>() {
        m.spec = spec.cloned();
    }
}

/// Whether two settings are the same one (a route that inherits its block's shares it), so
/// the module need not be configured again.
pub fn same(a: &Option<Arc<CompressionSpec>>, b: &Option<Arc<CompressionSpec>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// Pingora's gzip and zstd encoders (they finish their streams); brotli is ours, because
/// Pingora's never writes the stream's last block ([`super::brotli`]).
fn encoder(c: Coding, level: u32) -> Option<Encoder> {
    match c {
        Coding::Gzip => Algorithm::Gzip.compressor(level),
        Coding::Brotli => Some(Box::new(BrotliEncoder::new(level))),
        Coding::Zstd => Algorithm::Zstd.compressor(level),
    }
}

#[async_trait]
impl HttpModule for CompressModule {
    async fn response_header_filter(&mut self, resp: &mut ResponseHeader, end: bool) -> Result<()> {
        self.encoder = None;
        let Some(spec) = &self.spec else {
            return Ok(());
        };
        let mut decision = decide(spec, &self.request, resp, end);
        if let Decision::Compress(c) = decision {
            // HEAD: GET's header, and no body to encode (no encoder: not even an empty
            // stream's framing bytes are written).
            if !self.request.head {
                self.encoder = encoder(c, spec.level(c));
                if self.encoder.is_none() {
                    decision = Decision::Vary;
                }
            }
        }
        apply(resp, decision, spec.vary)
    }

    fn response_body_filter(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<()> {
        let Some(enc) = self.encoder.as_mut() else {
            return Ok(());
        };
        let input = body.as_deref().unwrap_or_default();
        match enc.encode(input, end) {
            Ok(out) => *body = Some(out),
            Err(e) => {
                // The header already says the body is compressed: cut it short.
                self.encoder = None;
                return Err(e.more_context("compressing the response body"));
            }
        }
        if end {
            self.encoder = None;
        }
        Ok(())
    }

    fn response_done_filter(&mut self) -> Result<Option<Bytes>> {
        let Some(mut enc) = self.encoder.take() else {
            return Ok(None);
        };
        enc.encode(&[], true)
            .map(Some)
            .map_err(|e| Error::because(COMPRESSION_ERROR, "finishing the compressed body", e))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

/// Builds a [`CompressModule`] per request; added by the proxy in place of Pingora's
/// default (disabled) compression module.
pub struct CompressModuleBuilder;

impl HttpModuleBuilder for CompressModuleBuilder {
    /// Late: after any other module that edits the body.
    fn order(&self) -> i16 {
        i16::MIN / 2
    }

    fn init(&self) -> Module {
        Box::<CompressModule>::default()
    }
}
