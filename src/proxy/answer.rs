//! Answers the proxy writes itself: local responses from plugins and refusals, through the
//! response filters (`local::write_local`).

use pingora::proxy::{FailToProxy, Session};
use pingora::{Error, Result};
use tracing::warn;

use super::{errors, local, EdgeProxy, ProxyCtx};
use crate::plugin_api::Response;
use crate::request::Invalid;

/// How the response went, for the error paths and the log phase.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Status of a locally written response.
    pub local_status: Option<u16>,
    /// Error text recorded for the log phase.
    pub error: Option<String>,
    /// A header or body filter failed: the error response that replaces the response is
    /// written without running the filters again.
    pub filter_failed: bool,
}

/// A local answer being written ([`EdgeProxy::respond`]): `Ok(true)`, the request is answered.
pub(super) type Answering<'a> = futures::future::BoxFuture<'a, Result<bool>>;

impl EdgeProxy {
    /// Writes `resp` through the chain's filters; the request is answered.
    ///
    /// Boxed: every phase that may answer awaits it, and inline its state (the filters',
    /// the write's) would make each such phase's future as large — and pingora-proxy boxes
    /// and copies each phase's future on every request, answered or not.
    pub(super) fn respond<'a>(
        &'a self,
        session: &'a mut Session,
        ctx: &'a mut ProxyCtx,
        resp: Response,
    ) -> Answering<'a> {
        Box::pin(async move {
            let (chain, req) = ctx.chain_and_req();
            let status = local::write_local(session, chain, req, resp).await?;
            ctx.outcome.local_status = Some(status);
            Ok(true)
        })
    }

    /// A 400 for a request-target or `Host` we refuse; the connection closes.
    pub(super) fn bad_request<'a>(
        &'a self,
        session: &'a mut Session,
        ctx: &'a mut ProxyCtx,
        why: Invalid,
    ) -> Answering<'a> {
        self.refuse_and_close(session, ctx, 400, &why.to_string())
    }

    /// Refuses a request whose header we will not act on (malformed, ambiguous, over a
    /// limit): its body, if any, is not read, so the connection is not reused (nginx does
    /// the same for 400, 413, 414, 431 and 501).
    pub(super) fn refuse_and_close<'a>(
        &'a self,
        session: &'a mut Session,
        ctx: &'a mut ProxyCtx,
        status: u16,
        why: &str,
    ) -> Answering<'a> {
        session.set_keepalive(None);
        ctx.outcome.error = Some(format!("bad request: {why}"));
        let resp = Response::error(status, why, &ctx.req.request_id);
        self.respond(session, ctx, resp)
    }

    /// An error answer (404, 413, ...) that keeps the connection.
    pub(super) fn refuse<'a>(
        &'a self,
        session: &'a mut Session,
        ctx: &'a mut ProxyCtx,
        status: u16,
        why: &str,
    ) -> Answering<'a> {
        ctx.outcome.error = Some(why.to_string());
        let resp = Response::error(status, why, &ctx.req.request_id);
        self.respond(session, ctx, resp)
    }
}

/// `fail_to_proxy`: the error response (a plugin's refusal, or the classified error),
/// written through the response filters unless a response already went out; the
/// connection is not reused.
pub(super) async fn failed(session: &mut Session, e: &Error, ctx: &mut ProxyCtx) -> FailToProxy {
    if ctx.outcome.error.is_none() {
        ctx.outcome.error = Some(e.to_string());
    }
    let Some((status, what)) = errors::classify(e) else {
        return FailToProxy {
            error_code: 0,
            can_reuse_downstream: false,
        };
    };
    if session.response_written().is_some() {
        return FailToProxy {
            error_code: status,
            can_reuse_downstream: false,
        };
    }
    let what = match ctx.outcome.filter_failed {
        true => local::FILTER_FAILED,
        false => what,
    };
    let resp = match ctx.body.refusal.take() {
        Some(refusal) => refusal,
        None => Response::error(status, what, &ctx.req.request_id),
    };
    // The connection is not reused after a failure: say so, so clients don't race us.
    session.set_keepalive(None);
    let (chain, req) = ctx.chain_and_req();
    match local::write_local(session, chain, req, resp).await {
        Ok(s) => ctx.outcome.local_status = Some(s),
        Err(we) => {
            warn!(request_id = %ctx.req.request_id, "failed to write error response: {we}")
        }
    }
    FailToProxy {
        error_code: status,
        can_reuse_downstream: false,
    }
}
