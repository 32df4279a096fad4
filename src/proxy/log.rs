//! The log phase: what every finished request is counted as, and the plugins' log hooks.

use pingora::proxy::Session;
use pingora::Error;

use super::{cache, ProxyCtx};
use crate::metrics::ServerMetrics;
use crate::plugin_api::LogEntry;

/// `logging` (exactly once per request): request, route, cache and upstream metrics, then
/// every plugin's log phase.
pub(super) async fn finished(
    requests: &ServerMetrics,
    session: &mut Session,
    e: Option<&Error>,
    ctx: &mut ProxyCtx,
) {
    let status = session
        .response_written()
        .map(|r| r.status.as_u16())
        .or(ctx.outcome.local_status)
        .unwrap_or(0);
    let error = ctx
        .outcome
        .error
        .clone()
        .or_else(|| e.map(|e| e.to_string()));
    let entry = LogEntry {
        request: session.req_header(),
        status,
        body_bytes: session.body_bytes_sent(),
        duration: ctx.req.elapsed(),
        error,
        upstream_time: ctx.upstream.time,
    };
    let route = ctx.route.as_ref().map(|r| &r.metrics);
    requests.finished(route, status, entry.duration);
    if let Some(code) = ctx.req.grpc_status {
        requests.grpc_finished(route, code);
    }
    cache::finished(session, ctx);
    if let (Some(status), Some(took)) = (ctx.upstream.status, ctx.upstream.time) {
        if let Some(group) = &ctx.upstream.group {
            group.metrics().response(status, took);
        }
    }
    for p in ctx.chain() {
        p.plugin.log(&entry, &ctx.req).await;
    }
}
