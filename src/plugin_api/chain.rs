//! The phase chain: the plugins that run for a request, in order, and the code that runs
//! them through each phase. A plugin error becomes a 500 carrying the request id, logged
//! with the plugin's name and phase.

use std::sync::Arc;

use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};
use tracing::error;

use super::{BoxError, Flow, Plugin, RequestBody, RequestCtx, Response, MAX_REQUEST_BODY_BYTES};

/// A built plugin with the name it was registered under.
#[derive(Clone)]
pub struct PluginInstance {
    /// The plugin's registered name (for logs and errors).
    pub name: Arc<str>,
    /// The built plugin.
    pub plugin: Arc<dyn Plugin>,
    /// Whether the plugin asked for an upstream handle ([`super::Shared::upstream_ref`]),
    /// when built or since: it may send requests to an upstream.
    pub chooses_upstream: Arc<std::sync::atomic::AtomicBool>,
}

impl PluginInstance {
    /// True when the plugin may send a request to an upstream (see `chooses_upstream`).
    pub fn may_proxy(&self) -> bool {
        self.chooses_upstream
            .load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// The plugins that run for a request: the server block's, then the route's.
///
/// A server block's own chain has an empty route part; a route's chain starts with its
/// server block's plugins. The server part's rewrite runs before routing (nginx: server
/// rewrite, then location), so [`route_part`](Self::route_part) exists for that split.
#[derive(Clone, Default)]
pub struct PluginChain {
    plugins: Arc<[PluginInstance]>,
    server_len: usize,
    body_bytes: usize,
}

/// A response filter that failed: which plugin, in which phase, and why.
#[derive(Debug, thiserror::Error)]
#[error("plugin `{plugin}` failed in {phase}: {source}")]
pub struct FilterError {
    /// The plugin's registered name.
    pub plugin: Arc<str>,
    /// `header_filter` or `body_filter`.
    pub phase: &'static str,
    /// The plugin's error.
    pub source: BoxError,
}

impl PluginChain {
    /// A chain of `server` plugins followed by `route` plugins.
    pub fn new(server: &[PluginInstance], route: Vec<PluginInstance>) -> Self {
        let mut all = server.to_vec();
        all.extend(route);
        let body_bytes = all
            .iter()
            .map(|p| p.plugin.request_body_bytes())
            .max()
            .unwrap_or(0)
            .min(MAX_REQUEST_BODY_BYTES);
        PluginChain {
            plugins: all.into(),
            server_len: server.len(),
            body_bytes,
        }
    }

    /// How much of a request body the chain's body phase reads (0: it has none).
    pub fn request_body_bytes(&self) -> usize {
        self.body_bytes
    }

    /// Every plugin, server part first.
    pub fn all(&self) -> &[PluginInstance] {
        &self.plugins
    }

    /// The server block's plugins.
    pub fn server_part(&self) -> &[PluginInstance] {
        &self.plugins[..self.server_len]
    }

    /// The route's own plugins.
    pub fn route_part(&self) -> &[PluginInstance] {
        &self.plugins[self.server_len..]
    }

    /// True when a plugin of the chain may send the request to an upstream.
    pub fn may_proxy(&self) -> bool {
        self.plugins.iter().any(PluginInstance::may_proxy)
    }

    /// True when the chain has no plugin.
    pub fn is_empty(&self) -> bool {
        self.plugins.is_empty()
    }
}

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

/// Runs the access phase over `chain`. Returns a response to send locally, if any.
pub async fn run_access(
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
    None
}

/// Runs the request body phase over the plugins of `chain` that look at bodies. Returns a
/// response to send locally, if any.
pub async fn run_request_body(
    chain: &[PluginInstance],
    req: &RequestHeader,
    body: &RequestBody,
    ctx: &mut RequestCtx,
) -> Option<Response> {
    for p in chain.iter().filter(|p| p.plugin.request_body_bytes() > 0) {
        match p.plugin.request_body(req, body, ctx).await {
            Ok(Flow::Continue) => {}
            Ok(Flow::Respond(r)) => return Some(r),
            Err(e) => return Some(plugin_failed(&p.name, "request_body", e, ctx)),
        }
    }
    None
}

/// Runs the content phase over `chain`. Returns the response to send locally, or `None`
/// to proxy.
pub async fn run_content(
    chain: &[PluginInstance],
    req: &RequestHeader,
    ctx: &mut RequestCtx,
) -> Option<Response> {
    for p in chain {
        match p.plugin.content(req, ctx).await {
            Ok(None) => {}
            Ok(Some(r)) => return Some(r),
            Err(e) => return Some(plugin_failed(&p.name, "content", e, ctx)),
        }
    }
    None
}

/// Runs every `header_filter` of `chain`; stops at the first failure (logged here).
pub fn run_header_filter(
    chain: &[PluginInstance],
    resp: &mut ResponseHeader,
    ctx: &mut RequestCtx,
) -> Result<(), FilterError> {
    for p in chain {
        if let Err(source) = p.plugin.header_filter(resp, ctx) {
            return Err(filter_failed(p, "header_filter", source, ctx));
        }
    }
    Ok(())
}

/// Runs every `body_filter` of `chain` on one chunk; stops at the first failure (logged).
pub fn run_body_filter(
    chain: &[PluginInstance],
    body: &mut Option<Bytes>,
    eos: bool,
    ctx: &mut RequestCtx,
) -> Result<(), FilterError> {
    for p in chain {
        if let Err(source) = p.plugin.body_filter(body, eos, ctx) {
            return Err(filter_failed(p, "body_filter", source, ctx));
        }
    }
    Ok(())
}

fn filter_failed(
    p: &PluginInstance,
    phase: &'static str,
    source: BoxError,
    ctx: &RequestCtx,
) -> FilterError {
    error!(plugin = %p.name, phase, request_id = %ctx.request_id, "plugin failed: {source}");
    FilterError {
        plugin: p.name.clone(),
        phase,
        source,
    }
}

/// Logs a plugin failure and builds the 500 answer for it.
fn plugin_failed(plugin: &str, phase: &str, e: BoxError, ctx: &RequestCtx) -> Response {
    error!(plugin, phase, request_id = %ctx.request_id, "plugin failed: {e}");
    Response::error(500, "internal error in a request plugin", &ctx.request_id)
}
