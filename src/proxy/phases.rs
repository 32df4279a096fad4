//! Running a plugin chain through the request phases; a plugin error becomes a 500 with the
//! request id, logged with the plugin's name.

use pingora::http::RequestHeader;
use tracing::error;

use crate::config::model::PluginInstance;
use crate::plugin::{BoxError, Flow, RequestCtx, Response};

/// Runs the rewrite phase over `chain`. Returns a response to send locally, if any.
pub async fn run_rewrite(
    chain: &[PluginInstance],
    req: &mut RequestHeader,
    ctx: &mut RequestCtx,
) -> Option<Response> {
    for p in chain {
        match p.plugin.rewrite(req, ctx).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Respond(r)) => return Some(r),
            Err(e) => return Some(plugin_failed(&p.name, "rewrite", e, ctx)),
        }
    }
    None
}

/// Runs access, then content over `chain`. Returns the response to send locally, or
/// `None` to proxy.
pub async fn run_access_content(
    chain: &[PluginInstance],
    req: &RequestHeader,
    ctx: &mut RequestCtx,
) -> Option<Response> {
    for p in chain {
        match p.plugin.access(req, ctx).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Respond(r)) => return Some(r),
            Err(e) => return Some(plugin_failed(&p.name, "access", e, ctx)),
        }
    }
    for p in chain {
        match p.plugin.content(req, ctx).await {
            Ok(None) => {}
            Ok(Some(r)) => return Some(r),
            Err(e) => return Some(plugin_failed(&p.name, "content", e, ctx)),
        }
    }
    None
}

/// Logs a plugin failure and builds the 500 answer for it.
pub fn plugin_failed(plugin: &str, phase: &str, e: BoxError, ctx: &RequestCtx) -> Response {
    error!(
        plugin,
        phase,
        request_id = %ctx.request_id,
        "plugin failed: {e}"
    );
    error_response(500, "internal error in a request plugin", &ctx.request_id)
}

/// A plain-text error page naming the request id; never fails.
pub fn error_response(status: u16, what: &str, request_id: &str) -> Response {
    let body = format!("{status} {what}\nrequest id: {request_id}\n");
    match Response::text(status, body.clone()) {
        Ok(r) => r,
        // Only reachable with an invalid status; fall back to a bare 500.
        Err(_) => Response::text(500, body).unwrap_or_else(|_| bare_500()),
    }
}

fn bare_500() -> Response {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = http::StatusCode::INTERNAL_SERVER_ERROR;
    Response {
        header: parts.into(),
        body: bytes::Bytes::from_static(b"500 internal error\n"),
    }
}
