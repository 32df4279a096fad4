//! A request's gRPC side (docs/grpc.md): whether it is a gRPC call, its deadline from
//! `grpc-timeout` (bounding the upstream's connect, read and write timeouts, and sent on as
//! what is left of it), and the `grpc-status` it ended with (from the upstream's
//! trailers-only header or trailers, or the proxy's own gRPC error answer), for the access
//! log (`ctx.grpc_status`) and `edgeproxy_grpc_responses_total`.

use std::time::{Duration, Instant};

use http::HeaderMap;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use crate::grpc;
use crate::plugin_api::RequestCtx;

/// The gRPC state of one request.
#[derive(Debug, Default)]
pub struct GrpcCall {
    /// The request is gRPC (a POST with `content-type: application/grpc…`).
    pub on: bool,
    /// When the client's `grpc-timeout` runs out.
    pub deadline: Option<Instant>,
}

impl GrpcCall {
    /// The gRPC state of `req`, which arrived at `started`.
    pub fn of(req: &RequestHeader, started: Instant) -> GrpcCall {
        // A gRPC call is a POST (gRPC over HTTP/2 protocol); the method is checked first,
        // being cheaper than the `Content-Type` lookup every other request would pay.
        if req.method != http::Method::POST || !grpc::is_grpc(&req.headers) {
            return GrpcCall::default();
        }
        let timeout = req
            .headers
            .get(grpc::GRPC_TIMEOUT)
            .and_then(|v| grpc::parse_timeout(v.as_bytes()));
        GrpcCall {
            on: true,
            deadline: timeout.and_then(|t| started.checked_add(t)),
        }
    }

    /// Bounds `peer`'s timeouts by what is left of the deadline; a 504 (DEADLINE_EXCEEDED
    /// to the client) when nothing is.
    pub fn bound(&self, peer: &mut HttpPeer) -> Result<()> {
        let Some(left) = self.left() else {
            return Ok(());
        };
        if left.is_zero() {
            return Error::e_explain(ErrorType::HTTPStatus(504), "grpc-timeout passed");
        }
        let o = &mut peer.options;
        for t in [
            &mut o.connection_timeout,
            &mut o.read_timeout,
            &mut o.write_timeout,
        ] {
            *t = Some(t.map_or(left, |t| t.min(left)));
        }
        Ok(())
    }

    /// The upstream request: `te: trailers`, which gRPC servers require (Pingora strips
    /// `te` from a request that arrived over HTTP/1, as a gRPC-Web call does);
    /// `grpc-timeout` as what is left of the client's (time spent here taken off, in
    /// milliseconds, at least 1); a gRPC-Web text call's length dropped.
    pub fn upstream_request(&self, session: &Session, req: &mut RequestHeader) -> Result<()> {
        if !self.on {
            return Ok(());
        }
        req.insert_header(http::header::TE, "trailers")?;
        if let Some(web) = session
            .downstream_modules_ctx
            .get::<grpc::web::GrpcWebModule>()
        {
            web.upstream_request(req);
        }
        if let Some(left) = self.left() {
            let ms = left.as_millis().clamp(1, 99_999_999);
            req.insert_header(grpc::GRPC_TIMEOUT, format!("{ms}m"))?;
        }
        Ok(())
    }

    fn left(&self) -> Option<Duration> {
        self.deadline
            .map(|d| d.saturating_duration_since(Instant::now()))
    }
}

/// On a `grpc_web` route: a gRPC-Web call becomes a gRPC one (then a gRPC call in every
/// respect: deadline, status, answers), its answer translated back.
pub fn start_web(session: &mut Session, ctx: &mut super::ProxyCtx) -> Result<()> {
    if !grpc::web::is_grpc_web(session.req_header()) {
        return Ok(());
    }
    let req = session.downstream_session.req_header_mut();
    if let Some(web) = session
        .downstream_modules_ctx
        .get_mut::<grpc::web::GrpcWebModule>()
    {
        grpc::web::start(web, req)?;
        ctx.grpc = GrpcCall::of(session.req_header(), ctx.req.started);
    }
    Ok(())
}

/// Whether the gRPC-Web translation is on for this request.
pub fn web_on(session: &Session) -> bool {
    session
        .downstream_modules_ctx
        .get::<grpc::web::GrpcWebModule>()
        .is_some_and(|m| m.on())
}

/// Records the `grpc-status` in `headers` (a response header or trailers), if any.
pub fn record_status(headers: &HeaderMap, ctx: &mut RequestCtx) {
    if let Some(code) = grpc::status_of(headers) {
        ctx.grpc_status = Some(code);
    }
}
