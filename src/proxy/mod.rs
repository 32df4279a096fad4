//! The Pingora `ProxyHttp` implementation: a thin map from Pingora callbacks to phase chains.
//!
//! | phase | callback |
//! |---|---|
//! | header received: client timeouts, keep-alive, pipelining | `early_request_filter` |
//! | limits, framing and `Connection` options, conformance (target, `Host`), routing, rewrite, access, content | `request_filter` |
//! | response cache (`proxy::cache`) | `request_cache_filter` … `should_serve_stale` |
//! | balance (+ retries) | `upstream_peer`, `fail_to_connect` |
//! | header_filter / body_filter | `response_filter` / `response_body_filter` for proxied responses; `local::write_local` for local ones |
//! | log | `logging` (exactly once per request) |

mod answer;
mod body;
mod cache;
mod client;
mod ctx;
pub mod direct;
mod errors;
mod first_hop;
mod forward;
mod grpc;
mod hashkey;
mod hot;
mod limits;
mod linger;
mod local;
mod log;
mod peer;
mod version;

pub use ctx::{next_request_id, ProxyCtx};

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use pingora::cache::key::HashBinary;
use pingora::cache::{CacheKey, CacheMeta, ForcedFreshness, HitHandler, RespCacheable};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorType, Result};
use tracing::info;

use crate::compress;
use crate::conn::{self, ConnLimits};
use crate::generation::World;
use crate::metrics;
use crate::plugin_api::{run_access, run_body_filter, run_content, run_header_filter, run_rewrite};
use crate::request;

/// One server block's request handler. Everything a request uses comes from the
/// configuration generation it started on (`ctx.gen`, loaded in `new_ctx`), so a reload in
/// place applies to every later request and never to one in flight.
pub struct EdgeProxy {
    name: Arc<str>,
    /// The block's position in every generation (reloads keep the blocks).
    index: usize,
    world: World,
    /// The connection layer's limits: fixed for the process (a reload refuses to change them).
    conn: ConnLimits,
    requests: metrics::ServerMetrics,
}

impl EdgeProxy {
    /// The handler of the `index`th server block of `world`'s generations.
    pub fn new(world: World, index: usize) -> Self {
        let gen = world.current();
        let block = &gen.app.servers[index];
        EdgeProxy {
            name: block.name.clone(),
            index,
            conn: block.conn,
            requests: metrics::ServerMetrics::new(&block.name),
            world,
        }
    }
}

#[async_trait]
impl ProxyHttp for EdgeProxy {
    /// Boxed: Pingora copies its per-request future (which holds the context) into a box
    /// per request; a pointer there saves ~2,000 instructions (BENCHMARKS.md).
    type CTX = Box<ProxyCtx>;

    fn new_ctx(&self) -> Box<ProxyCtx> {
        self.ctx_on(self.world.current())
    }

    /// Our compression module instead of Pingora's (see [`crate::compress`]), and the
    /// gRPC-Web translation (idle unless a `grpc_web` route starts it).
    fn init_downstream_modules(&self, modules: &mut pingora::modules::http::HttpModules) {
        modules.add_module(Box::new(compress::CompressModuleBuilder));
        modules.add_module(Box::new(crate::grpc::web::GrpcWebModuleBuilder));
    }

    async fn early_request_filter(
        &self,
        session: &mut Session,
        _ctx: &mut Box<ProxyCtx>,
    ) -> Result<()> {
        conn::header_received();
        // Pingora has just applied the client's keep-alive wish (HTTP/1.1 default, HTTP/1.0
        // only on request); when it stands, the idle time is ours.
        if session.get_keepalive().is_some() {
            session.set_keepalive(self.conn.keepalive_secs());
        }
        session.set_read_timeout(Some(self.conn.client_body_timeout));
        // Requests sent back to back are answered in order (RFC 9112 §9.3.2), as nginx does.
        session.set_pipelining_enabled(true);
        Ok(())
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Box<ProxyCtx>) -> Result<bool> {
        let gen = ctx.gen.clone();
        let block = gen.block(ctx.block);
        client::identify(session, &mut ctx.req, block.real_ip.as_deref());
        ctx.grpc = grpc::GrpcCall::of(session.req_header(), ctx.req.started);
        if block.compresses {
            compress::start(session, block.compression.as_ref());
        }
        if let Some(id) = ctx::inbound_request_id(session.req_header()) {
            ctx.req.request_id = id;
        }
        if let Some(r) = limits::check_header(session.req_header(), &block.limits) {
            return self
                .refuse_and_close(session, ctx, r.status, r.reason)
                .await;
        }
        if let Err(why) = limits::framing_and_names(session, &block.limits) {
            let (status, why) = (why.status(), why.to_string());
            return self.refuse_and_close(session, ctx, status, &why).await;
        }
        let mut target = match request::conform(session.req_header_mut()) {
            Ok(t) => t,
            Err(why) => return self.bad_request(session, ctx, why).await,
        };
        // Server-level rewrite runs before routing (nginx: server rewrite, then location).
        let req = session.req_header_mut();
        request::keep_original(req, &target, block.plugins.all());
        if let Some(resp) = run_rewrite(block.plugins.all(), req, &mut ctx.req).await {
            return self.respond(session, ctx, resp).await;
        }
        if let Err(why) = request::after_rewrite(session.req_header_mut(), &mut target) {
            return self.bad_request(session, ctx, why).await;
        }
        let Some(route) = block.router.find(&target.host, &target.path).cloned() else {
            return self
                .refuse(session, ctx, 404, "no route for this host and path")
                .await;
        };
        ctx.req.route = Some(route.name.clone());
        if block.compresses && !compress::same(&route.compression, &block.compression) {
            compress::configure(session, route.compression.as_ref());
        }
        if ctx.req.upstream.is_none() {
            ctx.req.upstream = route.upstream.clone();
        }
        ctx.body.limit = route.max_body_bytes;
        if route.grpc_web {
            grpc::start_web(session, ctx)?;
        }
        ctx.route = Some(route.clone());
        if let Some(r) = limits::check_declared_body(session.req_header(), ctx.body.limit) {
            return self
                .refuse_and_close(session, ctx, r.status, r.reason)
                .await;
        }
        let req = session.req_header_mut();
        request::keep_original(req, &target, route.chain.route_part());
        if let Some(resp) = run_rewrite(route.chain.route_part(), req, &mut ctx.req).await {
            return self.respond(session, ctx, resp).await;
        }
        if let Err(why) = request::after_rewrite(session.req_header_mut(), &mut target) {
            return self.bad_request(session, ctx, why).await;
        }
        let req = session.req_header();
        if let Some(resp) = run_access(route.chain.all(), req, &mut ctx.req).await {
            return self.respond(session, ctx, resp).await;
        }
        if let Some(answered) = self.body_phase_ahead(session, ctx, &route).await? {
            return Ok(answered);
        }
        let req = session.req_header();
        if let Some(resp) = run_content(route.chain.all(), req, &mut ctx.req).await {
            return self.respond(session, ctx, resp).await;
        }
        if ctx.req.upstream.is_none() {
            return self
                .refuse(session, ctx, 404, "no content for this route")
                .await;
        }
        let (state, answer) = hot::before_proxy(&gen, session.req_header(), &mut ctx.req);
        ctx.hot = state;
        match answer {
            Some(resp) => self.respond(session, ctx, resp).await,
            None => Ok(false),
        }
    }

    async fn request_body_filter(
        &self,
        session: &mut Session,
        body: &mut Option<Bytes>,
        eos: bool,
        ctx: &mut Box<ProxyCtx>,
    ) -> Result<()> {
        body::count(body.as_ref(), ctx)?;
        self.body_phase_held(session, body, eos, ctx).await
    }

    fn request_cache_filter(&self, session: &mut Session, ctx: &mut Box<ProxyCtx>) -> Result<()> {
        cache::enable(session, ctx);
        Ok(())
    }

    fn cache_key_callback(&self, _: &Session, ctx: &mut Box<ProxyCtx>) -> Result<CacheKey> {
        cache::key(ctx)
    }

    async fn cache_hit_filter(
        &self,
        session: &mut Session,
        meta: &CacheMeta,
        _hit: &mut HitHandler,
        fresh: bool,
        _ctx: &mut Box<ProxyCtx>,
    ) -> Result<Option<ForcedFreshness>> {
        Ok(cache::hit(session, meta, fresh))
    }

    async fn proxy_upstream_filter(
        &self,
        s: &mut Session,
        ctx: &mut Box<ProxyCtx>,
    ) -> Result<bool> {
        if !cache::must_not_fetch(s, ctx) {
            return Ok(true);
        }
        self.refuse(s, ctx, 504, "only-if-cached: not in the cache")
            .await?;
        Ok(false)
    }

    fn response_cache_filter(
        &self,
        session: &Session,
        resp: &ResponseHeader,
        ctx: &mut Box<ProxyCtx>,
    ) -> Result<RespCacheable> {
        Ok(cache::cacheable(session, resp, ctx))
    }

    fn cache_vary_filter(
        &self,
        meta: &CacheMeta,
        _: &mut Box<ProxyCtx>,
        req: &RequestHeader,
    ) -> Option<HashBinary> {
        cache::vary(meta, req)
    }

    fn should_serve_stale(
        &self,
        _: &mut Session,
        _: &mut Box<ProxyCtx>,
        e: Option<&Error>,
    ) -> bool {
        cache::serve_stale(e)
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Box<ProxyCtx>,
    ) -> Result<()> {
        cache::upstream_response(ctx, resp);
        Ok(())
    }

    async fn upstream_peer(
        &self,
        session: &mut Session,
        ctx: &mut Box<ProxyCtx>,
    ) -> Result<Box<HttpPeer>> {
        peer::for_request(session, ctx)
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut pingora::http::RequestHeader,
        ctx: &mut Box<ProxyCtx>,
    ) -> Result<()> {
        cache::announce(req, ctx);
        if let Some(group) = ctx.upstream.group.clone() {
            peer::require_h2(&group, req, ctx)?;
        }
        ctx.grpc.upstream_request(session, req)?;
        forward::add_forwarding_headers(req, ctx.req.client_addr, &ctx.req.request_id)
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        peer: &HttpPeer,
        ctx: &mut Box<ProxyCtx>,
        e: Box<Error>,
    ) -> Box<Error> {
        peer::connect_failed(peer, ctx, e)
    }

    async fn response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Box<ProxyCtx>,
    ) -> Result<()> {
        let close = version::own_version(resp, session.req_header().version);
        if close || crate::drain::draining() {
            session.set_keepalive(None);
        }
        peer::answered(resp, ctx);
        ctx.hot.on_header(resp);
        cache::on_response(session, resp, ctx).await;
        let (chain, req) = ctx.chain_and_req();
        if let Err(e) = run_header_filter(chain, resp, req) {
            // The 500 that replaces this response is written without the filters.
            ctx.outcome.filter_failed = true;
            ctx.outcome.error = Some(e.to_string());
            return Error::e_explain(ErrorType::HTTPStatus(500), "a response plugin failed");
        }
        Ok(())
    }

    fn response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        eos: bool,
        ctx: &mut Box<ProxyCtx>,
    ) -> Result<Option<Duration>> {
        ctx.hot.on_body(body, eos);
        let (chain, req) = ctx.chain_and_req();
        if let Err(e) = run_body_filter(chain, body, eos, req) {
            // The header is already on its way: the response can only be cut short.
            ctx.outcome.filter_failed = true;
            ctx.outcome.error = Some(e.to_string());
            return Error::e_explain(ErrorType::InternalError, "a response plugin failed");
        }
        Ok(None)
    }

    /// Trailers pass on untouched (gRPC's `grpc-status`, `grpc-message`, metadata); the
    /// status is recorded for the log.
    async fn response_trailer_filter(
        &self,
        _session: &mut Session,
        trailers: &mut http::HeaderMap,
        ctx: &mut Box<ProxyCtx>,
    ) -> Result<Option<Bytes>> {
        grpc::record_status(trailers, &mut ctx.req);
        Ok(None)
    }

    async fn fail_to_proxy(
        &self,
        session: &mut Session,
        e: &Error,
        ctx: &mut Box<ProxyCtx>,
    ) -> FailToProxy {
        answer::failed(session, e, ctx).await
    }

    /// Pingora logs a request's final error at ERROR unless this says not to: a client
    /// that went away is not an error of ours, so it is logged here at INFO, with the
    /// reason and the request id (the access log records it too).
    fn suppress_error_log(&self, _session: &Session, ctx: &Box<ProxyCtx>, e: &Error) -> bool {
        if ctx.body.refusal.refused() {
            return true; // an answer, not a failure (the plugin logged why)
        }
        let Some(why) = errors::client_side(e) else {
            return false;
        };
        info!(request_id = %ctx.req.request_id, "{why} (not an error of ours): {e}");
        true
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Box<ProxyCtx>) {
        log::finished(&self.requests, session, e, ctx).await;
        linger::drain_before_close(session, &self.conn).await;
    }
}
