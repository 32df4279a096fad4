//! gRPC-Web (docs/grpc.md): a route's `grpc_web = true` translates browser gRPC-Web calls —
//! binary (`application/grpc-web…`) and text (`application/grpc-web-text…`, base64) — into
//! gRPC for the upstream, and the answer back.
//!
//! A Pingora downstream module ([`GrpcWebModule`]), started per request once the route is
//! known ([`start`]). The binary translation is Pingora's own (`GrpcWebCtx`: content types,
//! `te: trailers`, the trailers encoded as a final frame in the body); Pingora has none for
//! the text format (it would rewrite `grpc-web-text` into `grpc-text`), so this module
//! adds it around Pingora's: the request body base64-decoded four characters at a time
//! (each padded segment decodes on its own, as clients send one per message), the answer's
//! body and trailer frame base64-encoded as one stream (three bytes at a time, the rest at
//! its end).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::HeaderMap;
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::modules::http::{HttpModule, HttpModuleBuilder, Module};
use pingora::protocols::http::bridge::grpc_web::GrpcWebCtx;
use pingora::{Error, ErrorType, Result};

const WEB: &str = "application/grpc-web";
const WEB_TEXT: &str = "application/grpc-web-text";

/// The gRPC-Web translation of one request (idle until [`start`]ed).
#[derive(Default)]
pub struct GrpcWebModule {
    bridge: GrpcWebCtx,
    /// Translating at all.
    on: bool,
    /// The text format: base64 both ways.
    text: bool,
    /// Request characters not yet decoded (fewer than 4).
    undecoded: Vec<u8>,
    /// Response bytes not yet encoded (fewer than 3).
    unencoded: BytesMut,
}

/// Builds a [`GrpcWebModule`] for each request.
pub struct GrpcWebModuleBuilder;

impl HttpModuleBuilder for GrpcWebModuleBuilder {
    fn init(&self) -> Module {
        Box::new(GrpcWebModule::default())
    }
}

/// Whether `req` is a gRPC-Web call (binary or text).
pub fn is_grpc_web(req: &RequestHeader) -> bool {
    content_type(req.headers.get(CONTENT_TYPE)).is_some_and(|ct| starts(ct, WEB))
}

/// Turns `req`, a gRPC-Web call, into a gRPC one and has `module` translate its answer.
pub fn start(module: &mut GrpcWebModule, req: &mut RequestHeader) -> Result<()> {
    let ct = content_type(req.headers.get(CONTENT_TYPE)).unwrap_or_default();
    if starts(ct, WEB_TEXT) {
        let binary = format!("{WEB}{}", &ct[WEB_TEXT.len()..]);
        req.insert_header(CONTENT_TYPE, binary)?;
        module.text = true;
    }
    module.bridge.init();
    module.bridge.request_header_filter(req);
    module.on = true;
    Ok(())
}

impl GrpcWebModule {
    /// Whether this request is being translated.
    pub fn on(&self) -> bool {
        self.on
    }

    /// The upstream request of a text call: without `Content-Length` (its decoded body is
    /// shorter; HTTP/2 frames it without one). The client's request keeps it: Pingora
    /// reads the client's body by it.
    pub fn upstream_request(&self, req: &mut RequestHeader) {
        if self.text {
            req.remove_header(&CONTENT_LENGTH);
        }
    }

    /// `bytes` after what was left over, base64-encoded up to a multiple of 3 (all of it
    /// when `end`).
    fn encode(&mut self, bytes: &[u8], end: bool) -> Bytes {
        self.unencoded.extend_from_slice(bytes);
        let whole = match end {
            true => self.unencoded.len(),
            false => self.unencoded.len() / 3 * 3,
        };
        let ready = self.unencoded.split_to(whole);
        Bytes::from(STANDARD.encode(&ready))
    }
}

#[async_trait::async_trait]
impl HttpModule for GrpcWebModule {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }

    async fn request_body_filter(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<()> {
        if !self.text {
            return Ok(());
        }
        let Some(chunk) = body.take() else {
            return Ok(());
        };
        self.undecoded
            .extend(chunk.iter().filter(|b| !b.is_ascii_whitespace()));
        let whole = match end {
            true => self.undecoded.len(),
            false => self.undecoded.len() / 4 * 4,
        };
        let rest = self.undecoded.split_off(whole);
        let quanta = std::mem::replace(&mut self.undecoded, rest);
        *body = Some(Bytes::from(decode_quanta(&quanta)?));
        Ok(())
    }

    async fn response_header_filter(
        &mut self,
        resp: &mut ResponseHeader,
        _end: bool,
    ) -> Result<()> {
        if !self.on {
            return Ok(());
        }
        self.bridge.response_header_filter(resp);
        let ct = content_type(resp.headers.get(CONTENT_TYPE)).unwrap_or_default();
        if self.text && starts(ct, WEB) {
            let text = format!("{WEB_TEXT}{}", &ct[WEB.len()..]);
            resp.insert_header(CONTENT_TYPE, text)?;
        }
        Ok(())
    }

    fn response_body_filter(&mut self, body: &mut Option<Bytes>, end: bool) -> Result<()> {
        if !self.text {
            return Ok(());
        }
        let chunk = body.take().unwrap_or_default();
        *body = Some(self.encode(&chunk, end));
        Ok(())
    }

    fn response_trailer_filter(
        &mut self,
        trailers: &mut Option<Box<HeaderMap>>,
    ) -> Result<Option<Bytes>> {
        let Some(trailers) = trailers.as_mut().filter(|_| self.on) else {
            return Ok(None);
        };
        let frame = self.bridge.response_trailer_filter(trailers)?;
        match (self.text, frame) {
            (true, Some(frame)) => Ok(Some(self.encode(&frame, true))),
            (_, frame) => Ok(frame),
        }
    }

    fn response_done_filter(&mut self) -> Result<Option<Bytes>> {
        match self.text && !self.unencoded.is_empty() {
            true => Ok(Some(self.encode(&[], true))),
            false => Ok(None),
        }
    }
}

/// Base64 in groups of four characters, each padded group decoded on its own (a body of
/// several padded segments, one per message, is valid gRPC-Web text).
fn decode_quanta(text: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    let mut rest = text;
    while !rest.is_empty() {
        let upto = rest
            .iter()
            .position(|&b| b == b'=')
            .map_or(rest.len(), |p| (p / 4 + 1) * 4)
            .min(rest.len());
        STANDARD
            .decode_vec(&rest[..upto], &mut out)
            .map_err(|e| {
                Error::explain(
                    ErrorType::InvalidHTTPHeader,
                    format!("gRPC-Web text body: {e}"),
                )
            })
            .map_err(|e| e.into_down())?;
        rest = &rest[upto..];
    }
    Ok(out)
}

fn content_type(v: Option<&http::HeaderValue>) -> Option<&str> {
    v.and_then(|v| v.to_str().ok())
}

fn starts(ct: &str, prefix: &str) -> bool {
    ct.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_bodies_decode_by_quanta_and_padded_segments() {
        let one = STANDARD.encode(b"\x00\x00\x00\x00\x01a");
        let two = STANDARD.encode(b"\x00\x00\x00\x00\x02bc");
        let joined = format!("{one}{two}");
        assert_eq!(
            decode_quanta(joined.as_bytes()).unwrap(),
            b"\x00\x00\x00\x00\x01a\x00\x00\x00\x00\x02bc"
        );
        assert!(decode_quanta(b"!!!!").is_err());
    }

    #[tokio::test]
    async fn a_text_call_round_trips_through_the_module() {
        let mut m = GrpcWebModule::default();
        let mut req = RequestHeader::build("POST", b"/s.S/M", None).unwrap();
        req.insert_header("content-type", "application/grpc-web-text+proto")
            .unwrap();
        req.insert_header("content-length", "12").unwrap();
        assert!(is_grpc_web(&req));
        start(&mut m, &mut req).unwrap();
        assert_eq!(req.headers["content-type"], "application/grpc+proto");
        m.upstream_request(&mut req);
        assert!(req.headers.get("content-length").is_none());
        // The body arrives split inside a quantum.
        let text = STANDARD.encode(b"\x00\x00\x00\x00\x03xyz");
        let (a, b) = text.as_bytes().split_at(5);
        let mut got = Vec::new();
        for (part, end) in [(a, false), (b, true)] {
            let mut body = Some(Bytes::copy_from_slice(part));
            m.request_body_filter(&mut body, end).await.unwrap();
            got.extend_from_slice(&body.unwrap());
        }
        assert_eq!(got, b"\x00\x00\x00\x00\x03xyz");

        let mut resp = ResponseHeader::build(200, None).unwrap();
        resp.insert_header("content-type", "application/grpc+proto")
            .unwrap();
        m.response_header_filter(&mut resp, false).await.unwrap();
        assert_eq!(
            resp.headers["content-type"],
            "application/grpc-web-text+proto"
        );
        let mut body = Some(Bytes::from_static(b"\x00\x00\x00\x00\x01q"));
        m.response_body_filter(&mut body, false).unwrap();
        let mut trailers = Some(Box::new(HeaderMap::new()));
        trailers
            .as_mut()
            .unwrap()
            .insert("grpc-status", "0".parse().unwrap());
        let tail = m.response_trailer_filter(&mut trailers).unwrap().unwrap();
        let all = [body.unwrap(), tail].concat();
        let raw = STANDARD.decode(&all).unwrap();
        assert_eq!(&raw[..6], b"\x00\x00\x00\x00\x01q");
        assert_eq!(raw[6], 0x80, "the trailer frame");
        assert!(raw.ends_with(b"grpc-status:0\r\n"));
    }
}
