//! Local answers below pingora-proxy: requests of a route that never reaches an upstream
//! (a page from the cache, `respond`, redirects, status endpoints: [`Route::is_local`]) are
//! answered on Pingora's HTTP session by the same phases, without pingora-proxy's
//! per-request machinery (its ~8.7 KB boxed future, the proxy state machine, the cache
//! hooks). Everything a request does is unchanged — the phases are [`EdgeProxy`]'s own
//! `early_request_filter`, downstream modules, `request_filter`, `fail_to_proxy` and
//! `logging`, called in pingora-proxy's order on a [`Session`] built with the same
//! modules — only the machinery around them is not there.
//!
//! Who answers is chosen by the connection layer (`crate::conn`) from the request's first
//! bytes ([`Direct::takes`]): a plain origin-form target whose normalized host and path
//! route to a local route of the current generation. Anything else — proxied routes,
//! absolute-form targets, a missing or repeated `Host`, a header not whole within its first
//! reads, HTTP/2 — goes to pingora-proxy as before. The request is parsed once, by whichever
//! session answers it (the bytes read to choose are its pipelined prefix).
//!
//! Pingora's API has no way to hand pingora-proxy a request already read, so the choice
//! must be right before the phases run: a route is local only when it has no upstream and
//! no plugin of its chain asked for an upstream handle, and only blocks without
//! server-level plugins (whose rewrite runs before routing) choose at all.

use std::sync::Arc;

use bytes::BytesMut;
use pingora::apps::HttpPersistentSettings;
use pingora::modules::http::HttpModules;
use pingora::protocols::Stream;
use pingora::proxy::{ProxyHttp, Session};
use pingora::server::ShutdownWatch;
use pingora::{Error, ErrorType};
use tracing::{error, info};

use super::{EdgeProxy, ProxyCtx};
use crate::assembly::DirectScope;
use crate::generation::{Generation, World};
use crate::request;

/// How many header lines the choice looks at (more: pingora-proxy answers).
const MAX_HEADERS: usize = 100;

/// The direct answers of one server block.
pub struct Direct {
    proxy: EdgeProxy,
    modules: HttpModules,
    answered: prometheus::IntCounter,
}

/// A connection after a direct answer: its stream, the bytes already read of the next
/// request, and the session settings it keeps (keep-alive, reuses left).
pub struct Answered {
    /// The connection.
    pub stream: Stream,
    /// Bytes read past the answered request (a pipelined next request).
    pub prefix: Option<BytesMut>,
    /// The settings the next request's session starts with.
    pub settings: HttpPersistentSettings,
    /// The keep-alive idle timeout in force (seconds; `Some(0)`: no limit).
    pub keepalive: Option<u64>,
}

/// How the session of a request starts.
pub enum Start {
    /// A connection's first request, with this keep-alive.
    First(Option<u64>),
    /// A later request, with what the previous one left.
    Next(HttpPersistentSettings),
}

impl Direct {
    /// The direct answers of the `index`th server block of `world`.
    pub fn new(world: World, index: usize) -> Self {
        let proxy = EdgeProxy::new(world, index);
        let mut modules = HttpModules::new();
        proxy.init_downstream_modules(&mut modules);
        let answered = crate::metrics::DIRECT_ANSWERS.with_label_values(&[&proxy.name]);
        Direct {
            proxy,
            modules,
            answered,
        }
    }

    /// The generation to choose on and what the block answers directly in it; `None`
    /// when it answers nothing directly now.
    pub fn active(&self) -> Option<(Arc<Generation>, DirectScope)> {
        let gen = self.proxy.world.current();
        match gen.block(self.proxy.index).direct {
            DirectScope::Off => None,
            scope => Some((gen, scope)),
        }
    }

    /// True when the request starting in `head` goes to a local route of `gen`, judged
    /// exactly as `request_filter` routes it (see the module doc).
    pub fn takes(&self, gen: &Generation, head: &[u8]) -> bool {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        if !matches!(req.parse(head), Ok(httparse::Status::Complete(_))) {
            return false;
        }
        let Some(target) = req.path.filter(|t| t.starts_with('/')) else {
            return false;
        };
        let mut hosts = req
            .headers
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case("host"));
        let (Some(host), None) = (hosts.next(), hosts.next()) else {
            return false;
        };
        let Ok(host) = request::host::name(host.value) else {
            return false;
        };
        let raw_path = target.split('?').next().unwrap_or_default();
        let Ok((path, _)) = request::path::normalize_target(raw_path.as_bytes()) else {
            return false;
        };
        let block = gen.block(self.proxy.index);
        block
            .router
            .find(&host, &path)
            .is_some_and(|r| r.is_local())
    }

    /// Answers the request on `stream` that starts with `head` (bytes already read), with
    /// the phases of `gen`. `Some` when the connection stays open for another request.
    pub async fn answer(
        &self,
        gen: Arc<Generation>,
        stream: Stream,
        head: BytesMut,
        start: Start,
        shutdown: &ShutdownWatch,
    ) -> Option<Answered> {
        let mut session = Session::new_h1_with_modules(stream, &self.modules);
        let downstream = &mut *session.downstream_session;
        match start {
            Start::First(keepalive) => downstream.set_keepalive(keepalive),
            Start::Next(settings) => settings.apply_to_session(downstream),
        }
        downstream.set_pipelined_prefix(head);
        match downstream.read_request().await {
            Ok(true) => {}
            Ok(false) => return None,
            Err(e) => {
                // pingora-proxy answers a header it cannot parse with 400 too; a client
                // gone mid-header is not an error of ours (logged at INFO, not ERROR).
                info!("request header not read: {e}");
                let status = matches!(e.etype, ErrorType::InvalidHTTPHeader).then_some(400);
                Box::pin(refuse(downstream, status)).await;
                return None;
            }
        }
        // As pingora-proxy: CONNECT is not proxied (nor answered) here.
        if downstream.req_header().method == http::Method::CONNECT {
            Box::pin(refuse(downstream, Some(405))).await;
            return None;
        }
        if *shutdown.borrow() {
            session.set_keepalive(None);
        }
        self.answered.inc();
        let mut ctx = self.proxy.ctx_on(gen);
        let answered = self.phases(&mut session, &mut ctx).await;
        let e = match answered {
            Ok(true) => None,
            Ok(false) => Some(Error::explain(
                ErrorType::InternalError,
                "a local route's request was to be proxied",
            )),
            Err(e) => Some(e),
        };
        let reuse = match e {
            None => {
                self.proxy.logging(&mut session, None, &mut ctx).await;
                true
            }
            Some(e) => self.failed(&mut session, &mut ctx, e).await,
        };
        if !reuse {
            return None;
        }
        let settings = HttpPersistentSettings::for_session(&session.downstream_session);
        let keepalive = session.get_keepalive();
        let reusable = session.downstream_session.finish().await.ok()??;
        let (stream, prefix) = reusable.into_parts();
        Some(Answered {
            stream,
            prefix,
            settings,
            keepalive,
        })
    }

    /// pingora-proxy's order up to `request_filter`: early filter, downstream modules,
    /// then the request filter, which answers (`Ok(true)`) on a local route.
    async fn phases(
        &self,
        session: &mut Session,
        ctx: &mut Box<ProxyCtx>,
    ) -> pingora::Result<bool> {
        self.proxy.early_request_filter(session, ctx).await?;
        let req = session.downstream_session.req_header_mut();
        session
            .downstream_modules_ctx
            .request_header_filter(req)
            .await?;
        self.proxy.request_filter(session, ctx).await
    }

    /// pingora-proxy's error path: the error answer, the error log unless suppressed, the
    /// access log. True when the connection may serve another request.
    async fn failed(&self, session: &mut Session, ctx: &mut Box<ProxyCtx>, e: Box<Error>) -> bool {
        let res = self.proxy.fail_to_proxy(session, &e, ctx).await;
        if !self.proxy.suppress_error_log(session, ctx, &e) {
            error!(
                "Fail to answer locally: {e}, status: {}, {}",
                res.error_code,
                self.proxy.request_summary(session, ctx)
            );
        }
        self.proxy.logging(session, Some(&e), ctx).await;
        session.downstream_session.on_proxy_failure(e);
        res.can_reuse_downstream
    }
}

/// A request refused before its phases (a header that cannot be read, CONNECT): the error
/// answer when `status` says so, then the connection closes. Apart, and boxed by the
/// caller, so the rare path adds nothing to every request's future.
async fn refuse(downstream: &mut pingora::protocols::http::ServerSession, status: Option<u16>) {
    if let Some(status) = status {
        let _ = downstream.respond_error(status).await;
    }
    downstream.shutdown().await;
}
