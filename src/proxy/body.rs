//! The request body phase (`plugin_api::body`): the plugins that asked for it see the start
//! of a request body before any of it goes upstream.
//!
//! Two ways, chosen per request:
//! - **Read ahead** (a `Content-Length` body of at most [`MAX_REQUEST_BODY_BYTES`], without
//!   `Expect: 100-continue`): the whole body is read in `request_filter`, before the upstream
//!   is chosen; a refusal is an ordinary local answer and the upstream never hears of the
//!   request. The bytes are in Pingora's retry buffer (enabled before reading), which the
//!   proxy sends upstream first. Only bodies that fit it are read this way: a read can return
//!   up to 64 KiB, and a body that overflowed the buffer *and* was read to its end would be
//!   lost (Pingora would send neither the buffer nor read anything more).
//! - **Held** (chunked bodies, longer ones, `Expect: 100-continue`): `request_body_filter`
//!   holds the chunks back (the upstream has the request header, no body byte) until the
//!   plugins' size is reached or the body ends, runs the phase, then releases them at once.
//!   A refusal there ends the proxying with an error that `fail_to_proxy` turns into the
//!   plugin's response; the upstream connection is dropped, no body byte was sent.

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING};
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::{EdgeProxy, ProxyCtx};
use crate::plugin_api::{run_request_body, RequestBody, Response, MAX_REQUEST_BODY_BYTES};
use crate::router::Route;

/// What a request knows of its body: the limit in force, the bytes seen, the body phase
/// and a refusal by a request body plugin.
#[derive(Debug)]
pub struct BodyState {
    /// Request body bytes seen so far (for the streaming 413 check).
    pub seen: u64,
    /// Body limit in force for this request.
    pub limit: u64,
    /// The request body phase, when it runs while the body streams.
    pub phase: BodyPhase,
    /// A request body plugin refused the request while its body was held.
    pub refusal: Refusal,
}

/// Counts a chunk of the request body against the route's `max_body_bytes`: 413 past it.
pub(super) fn count(chunk: Option<&Bytes>, ctx: &mut ProxyCtx) -> Result<()> {
    if let Some(b) = chunk {
        ctx.body.seen += b.len() as u64;
        if ctx.body.seen > ctx.body.limit {
            ctx.outcome.error = Some("request body too large".into());
            return Error::e_explain(ErrorType::HTTPStatus(413), "request body too large");
        }
    }
    Ok(())
}

impl Default for BodyState {
    fn default() -> Self {
        BodyState {
            seen: 0,
            limit: u64::MAX,
            phase: BodyPhase::Off,
            refusal: Refusal::None,
        }
    }
}

/// A refusal by a request body plugin while the body was held: the error that ends the
/// proxying is that answer, not a failure.
#[derive(Debug, Default)]
pub enum Refusal {
    /// None.
    #[default]
    None,
    /// Refused; `fail_to_proxy` writes this answer (boxed: the rare case does not make
    /// every request's context larger).
    Pending(Box<Response>),
    /// Refused and answered.
    Answered,
}

impl Refusal {
    /// The answer to write, once (the refusal is then `Answered`).
    pub fn take(&mut self) -> Option<Response> {
        if !matches!(self, Refusal::Pending(_)) {
            return None;
        }
        match std::mem::replace(self, Refusal::Answered) {
            Refusal::Pending(r) => Some(*r),
            _ => None,
        }
    }

    /// The request was refused by a request body plugin.
    pub fn refused(&self) -> bool {
        !matches!(self, Refusal::None)
    }
}

/// Where a request's body phase stands.
#[derive(Debug, Default)]
pub enum BodyPhase {
    /// No body phase (no plugin asked, no body) or it has run.
    #[default]
    Off,
    /// Holding body chunks in `request_body_filter` until `want` bytes or the end.
    Held {
        /// Bytes the plugins asked for.
        want: usize,
        /// What has been held back so far.
        held: BytesMut,
    },
}

impl EdgeProxy {
    /// Runs the body phase now when the body can be read ahead, or arms the held phase.
    /// Returns `Some(answered)` when the request was answered here.
    pub(super) async fn body_phase_ahead(
        &self,
        session: &mut Session,
        ctx: &mut ProxyCtx,
        route: &Route,
    ) -> Result<Option<bool>> {
        let want = route.chain.request_body_bytes();
        // A gRPC body is a stream of messages both sides may be waiting on: never held.
        if want == 0 || session.is_body_empty() || ctx.grpc.on {
            return Ok(None);
        }
        let Some(len) = read_ahead_len(session.req_header()) else {
            ctx.body.phase = BodyPhase::Held {
                want,
                held: BytesMut::new(),
            };
            return Ok(None);
        };
        // Boxed: the read's state would otherwise sit in `request_filter`'s future, which
        // pingora-proxy boxes and copies on every request, body or not.
        Box::pin(self.read_ahead(session, ctx, route, len)).await
    }

    /// Reads the whole body (`len` bytes at most, known to fit the retry buffer) and runs
    /// the body phase on it.
    async fn read_ahead(
        &self,
        session: &mut Session,
        ctx: &mut ProxyCtx,
        route: &Route,
        len: usize,
    ) -> Result<Option<bool>> {
        // Before the first read: the retry buffer is cleared when the body reader starts.
        session.enable_retry_buffering();
        let mut buf = BytesMut::with_capacity(len);
        while let Some(chunk) = session.read_request_body().await? {
            buf.extend_from_slice(&chunk);
        }
        if session.retry_buffer_truncated() {
            // Cannot happen for a body within the buffer's size; never send a partial body.
            return Error::e_explain(ErrorType::InternalError, "body read ahead was truncated");
        }
        let body = RequestBody {
            bytes: buf.freeze(),
            complete: true,
        };
        let req = session.req_header();
        match run_request_body(route.chain.all(), req, &body, &mut ctx.req).await {
            Some(resp) => self.respond(session, ctx, resp).await.map(Some),
            None => Ok(None),
        }
    }

    /// The held body phase, for one chunk seen by `request_body_filter`: holds it back, or
    /// runs the phase and releases everything held. A refusal is kept in `ctx` for
    /// `fail_to_proxy` and returned as an error that ends the proxying.
    pub(super) async fn body_phase_held(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        eos: bool,
        ctx: &mut ProxyCtx,
    ) -> Result<()> {
        let BodyPhase::Held { want, held } = &mut ctx.body.phase else {
            return Ok(());
        };
        if let Some(b) = body.take() {
            held.extend_from_slice(&b);
        }
        if held.len() < *want && !eos {
            // Nothing goes upstream yet (an empty chunk is not written).
            *body = Some(Bytes::new());
            return Ok(());
        }
        let bytes = std::mem::take(held).freeze();
        ctx.body.phase = BodyPhase::Off;
        let Some(route) = ctx.route.clone() else {
            *body = Some(bytes);
            return Ok(());
        };
        let seen = RequestBody {
            bytes,
            complete: eos,
        };
        let req = session.req_header();
        if let Some(resp) = run_request_body(route.chain.all(), req, &seen, &mut ctx.req).await {
            return self.refuse_held(ctx, resp);
        }
        *body = Some(seen.bytes);
        Ok(())
    }

    fn refuse_held(&self, ctx: &mut ProxyCtx, resp: Response) -> Result<()> {
        let status = resp.status();
        ctx.outcome.error = Some(format!("refused by a request body plugin ({status})"));
        ctx.body.refusal = Refusal::Pending(Box::new(resp));
        Error::e_explain(
            ErrorType::HTTPStatus(status),
            "refused by a request body plugin",
        )
    }
}

/// The body's length when it can be read ahead: a single `Content-Length` of at most
/// [`MAX_REQUEST_BODY_BYTES`], no `Transfer-Encoding`, and no `Expect: 100-continue` (the
/// client waits for the upstream's `100 Continue`, which comes only once we proxy).
fn read_ahead_len(req: &pingora::http::RequestHeader) -> Option<usize> {
    if req.headers.contains_key(TRANSFER_ENCODING) || req.headers.contains_key(EXPECT) {
        return None;
    }
    let len: usize = req
        .headers
        .get(CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()?;
    (len <= MAX_REQUEST_BODY_BYTES).then_some(len)
}

#[cfg(test)]
mod tests {
    use super::*;
    use pingora::http::RequestHeader;

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    #[test]
    fn only_small_plain_content_length_bodies_are_read_ahead() {
        assert_eq!(read_ahead_len(&req(&[("content-length", "10")])), Some(10));
        assert_eq!(
            read_ahead_len(&req(&[("content-length", "65536")])),
            Some(65536)
        );
        assert_eq!(read_ahead_len(&req(&[("content-length", "65537")])), None);
        assert_eq!(
            read_ahead_len(&req(&[("transfer-encoding", "chunked")])),
            None
        );
        assert_eq!(
            read_ahead_len(&req(&[
                ("content-length", "10"),
                ("expect", "100-continue")
            ])),
            None
        );
        assert_eq!(read_ahead_len(&req(&[])), None);
    }
}
