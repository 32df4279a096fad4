//! A request's gRPC side (docs/grpc.md): whether it is a gRPC call, its deadline from
//! `grpc-timeout` (bounding the upstream's connect, read and write timeouts, and sent on as
//! what is left of it), and the `grpc-status` it ended with (from the upstream's
//! trailers-only header or trailers, or the proxy's own gRPC error answer), for the access
//! log (`ctx.grpc_status`) and `edgeproxy_grpc_responses_total`.

use std::time::{Duration, Instant};

use http::HeaderMap;
use pingora::http::RequestHeader;
use pingora::prelude::HttpPeer;
use pingora::{Error, ErrorType, Result};

use crate::grpc;
use crate::plugin_api::RequestCtx;

/// The gRPC state of one request.
#[derive(Debug, Default)]
pub struct GrpcCall {
    /// The request is gRPC (`content-type: application/grpc…`).
    pub on: bool,
    /// When the client's `grpc-timeout` runs out.
    pub deadline: Option<Instant>,
}

impl GrpcCall {
    /// The gRPC state of `req`, which arrived at `started`.
    pub fn of(req: &RequestHeader, started: Instant) -> GrpcCall {
        if !grpc::is_grpc(&req.headers) {
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

    /// The upstream's `grpc-timeout`: what is left of the client's (time spent here taken
    /// off), in milliseconds, at least 1.
    pub fn forward(&self, req: &mut RequestHeader) -> Result<()> {
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

/// Records the `grpc-status` in `headers` (a response header or trailers), if any.
pub fn record_status(headers: &HeaderMap, ctx: &mut RequestCtx) {
    if let Some(code) = grpc::status_of(headers) {
        ctx.grpc_status = Some(code);
    }
}
