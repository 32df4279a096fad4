//! Answers the proxy writes itself: local responses from plugins and refusals, through the
//! response filters (`local::write_local`).

use pingora::proxy::{FailToProxy, Session};
use pingora::Result;
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

impl EdgeProxy {
    /// Writes `resp` through the chain's filters; the request is answered.
    pub(super) async fn respond(
        &self,
        session: &mut Session,
        ctx: &mut ProxyCtx,
        resp: Response,
    ) -> Result<bool> {
        let (chain, req) = ctx.chain_and_req();
        let status = local::write_local(session, chain, req, resp).await?;
        ctx.outcome.local_status = Some(status);
        Ok(true)
    }

    /// A 400 for a request-target or `Host` we refuse; the connection closes.
    pub(super) async fn bad_request(
        &self,
        session: &mut Session,
        ctx: &mut ProxyCtx,
        why: Invalid,
    ) -> Result<bool> {
        self.refuse_and_close(session, ctx, 400, &why.to_string())
            .await
    }

    /// Refuses a request whose header we will not act on (malformed, ambiguous, over a
    /// limit): its body, if any, is not read, so the connection is not reused (nginx does
    /// the same for 400, 413, 414, 431 and 501).
    pub(super) async fn refuse_and_close(
        &self,
        session: &mut Session,
        ctx: &mut ProxyCtx,
        status: u16,
        why: &str,
    ) -> Result<bool> {
        session.set_keepalive(None);
        ctx.outcome.error = Some(format!("bad request: {why}"));
        let resp = Response::error(status, why, &ctx.req.request_id);
        self.respond(session, ctx, resp).await
    }

    /// An error answer (404, 413, ...) that keeps the connection.
    pub(super) async fn refuse(
        &self,
        session: &mut Session,
        ctx: &mut ProxyCtx,
        status: u16,
        why: &str,
    ) -> Result<bool> {
        ctx.outcome.error = Some(why.to_string());
        let resp = Response::error(status, why, &ctx.req.request_id);
        self.respond(session, ctx, resp).await
    }
}

impl EdgeProxy {
    /// `fail_to_proxy`: the error answer (502/504/413/500, or a held refusal) when no
    /// response has gone out yet; the connection is not reused after it.
    pub(super) async fn answer_failure(
        &self,
        session: &mut Session,
        e: &pingora::Error,
        ctx: &mut ProxyCtx,
    ) -> FailToProxy {
        if ctx.outcome.error.is_none() {
            ctx.outcome.error = Some(e.to_string());
        }
        let failed = |error_code| FailToProxy {
            error_code,
            can_reuse_downstream: false,
        };
        let Some((status, what)) = errors::classify(e) else {
            return failed(0);
        };
        if session.response_written().is_some() {
            return failed(status);
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
        failed(status)
    }
}
