//! The upstream peer of a request: its hash key (first attempt, unless the hot-key step
//! computed it already), the member the group picks (skipping those already tried; round
//! robin for a hot key being spread), and the connection options — timeouts, and TLS
//! for groups with `tls`.

use std::sync::Arc;

use pingora::prelude::HttpPeer;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};

use super::ctx::ProxyCtx;
use super::hashkey;
use crate::upstream::UpstreamGroup;

/// A request's attempts at its upstream.
#[derive(Default)]
pub struct Attempts {
    /// Peers already tried (skipped on retry). Two inline: a request rarely tries more,
    /// and the first attempt's push allocated on every proxied request.
    pub tried: smallvec::SmallVec<[std::net::SocketAddr; 2]>,
    /// When the first peer was chosen.
    pub started: Option<std::time::Instant>,
    /// Time from choosing the peer to its response header.
    pub time: Option<std::time::Duration>,
    /// Status of the upstream's (final) response header, before any header filter ran.
    pub status: Option<u16>,
    /// The current attempt counted in flight to its member (groups with
    /// `hash_balance_factor`); replaced by the next attempt, given back when the request ends.
    pub load: Option<crate::upstream::LoadTicket>,
    /// The group the attempts went to, resolved once by the first `upstream_peer` (later
    /// phases count and report against it without looking it up again).
    pub group: Option<Arc<UpstreamGroup>>,
}

impl std::fmt::Debug for Attempts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempts")
            .field("tried", &self.tried)
            .field("started", &self.started)
            .field("time", &self.time)
            .field("status", &self.status)
            .field("load", &self.load)
            .field("group", &self.group.as_ref().map(|g| g.name()))
            .finish()
    }
}

/// `upstream_peer`: the peer for this attempt in the request's group (500 without one).
pub(super) fn for_request(session: &Session, ctx: &mut ProxyCtx) -> Result<Box<HttpPeer>> {
    let group = match &ctx.upstream.group {
        Some(g) => g.clone(), // a retry: the group the first attempt resolved
        None => {
            let Some(g) = ctx.gen.group(&ctx.req).cloned() else {
                return Error::e_explain(ErrorType::HTTPStatus(500), "route has no upstream group");
            };
            ctx.upstream.group = Some(g.clone());
            g
        }
    };
    choose(&group, session, ctx)
}

/// The peer for this attempt of the request, or 502 when the group has no live member left.
pub(super) fn choose(
    group: &Arc<UpstreamGroup>,
    session: &Session,
    ctx: &mut ProxyCtx,
) -> Result<Box<HttpPeer>> {
    if ctx.upstream.tried.is_empty() && !ctx.hot.key_ready() {
        let (req, client, vars) = (session.req_header(), ctx.req.client_addr, &ctx.req.vars);
        ctx.req.hash_key = hashkey::hash_key(group, req, client, vars);
    }
    // A hot key being spread goes round robin over every member (its first attempt).
    let key = match ctx.hot.spread(ctx.upstream.tried.is_empty()) {
        true => None,
        false => ctx.req.hash_key.as_deref().map(str::as_bytes),
    };
    // The previous attempt's load is given back before choosing again.
    ctx.upstream.load = None;
    let Some((addr, load)) = group.pick(key, &ctx.upstream.tried) else {
        let why = match ctx.outcome.error.take() {
            Some(last) => format!(
                "no live upstream left in group `{}` after {} attempts (last: {last})",
                group.name(),
                ctx.upstream.tried.len()
            ),
            None => format!("no live upstream in group `{}`", group.name()),
        };
        ctx.outcome.error = Some(why.clone());
        return Error::e_explain(ErrorType::HTTPStatus(502), why);
    };
    ctx.upstream.tried.push(addr);
    ctx.upstream.load = load;
    ctx.req.upstream_addr = Some(addr);
    ctx.upstream
        .started
        .get_or_insert_with(std::time::Instant::now);
    let t = group.spec().timeouts;
    let mut peer = match &group.spec().tls {
        None => HttpPeer::new(addr, false, String::new()),
        Some(tls) => tls_peer(addr, tls, session.req_header()),
    };
    peer.options.connection_timeout = Some(t.connect);
    peer.options.read_timeout = Some(t.read);
    peer.options.write_timeout = Some(t.write);
    peer.options.idle_timeout = Some(t.idle);
    speak(&mut peer, group.spec());
    ctx.grpc.bound(&mut peer)?;
    Ok(Box::new(peer))
}

/// The group's protocol on `peer`: ALPN `h2` (h2 over TLS; prior knowledge in plain text,
/// where Pingora's connector trusts the server to speak h2c), `h2,http/1.1` (auto), or
/// HTTP/1.1 only; streams per connection and pings for HTTP/2.
fn speak(peer: &mut HttpPeer, spec: &crate::upstream::GroupSpec) {
    use crate::upstream::UpstreamProtocol as P;
    use pingora::protocols::ALPN;
    peer.options.alpn = match spec.protocol {
        P::H1 => return,
        P::H2 | P::H2c => ALPN::H2,
        P::Auto => ALPN::H2H1,
    };
    peer.options.max_h2_streams = spec.h2.max_streams;
    peer.options.h2_ping_interval = spec.h2.ping_interval;
}

/// For a group that must speak HTTP/2: an error when the connection Pingora picked is
/// HTTP/1 (over TLS its connector falls back to HTTP/1.1 when the server does not choose
/// `h2` by ALPN; `req` is already HTTP/2 when the stream is).
pub(super) fn require_h2(
    group: &UpstreamGroup,
    req: &pingora::http::RequestHeader,
    ctx: &mut ProxyCtx,
) -> Result<()> {
    if !group.spec().protocol.requires_h2() || req.version == http::Version::HTTP_2 {
        return Ok(());
    }
    let why = format!(
        "upstream {} of group `{}` did not agree to HTTP/2 (ALPN h2)",
        ctx.req.upstream_addr.map_or("-".into(), |a| a.to_string()),
        group.name()
    );
    if let Some(addr) = ctx.req.upstream_addr {
        group.report_failure(addr, &why);
    }
    ctx.outcome.error = Some(why.clone());
    Error::e_explain(ErrorType::HTTPStatus(502), why)
}

/// A TLS peer at `addr` for a group with `tls`: SNI from the group or else the
/// request's `Host` name (without port), verification as configured, the group's CA file
/// if any. Its pooled connections are the group's own (`pool_key`).
fn tls_peer(
    addr: std::net::SocketAddr,
    tls: &crate::upstream::UpstreamTls,
    req: &pingora::http::RequestHeader,
) -> pingora::upstreams::peer::HttpPeer {
    let sni = tls.sni.clone().unwrap_or_else(|| {
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok());
        crate::request::host::name(host.unwrap_or("").as_bytes()).unwrap_or_default()
    });
    let mut peer = pingora::upstreams::peer::HttpPeer::new(addr, true, sni);
    peer.options.verify_cert = tls.verify;
    peer.options.verify_hostname = tls.verify;
    peer.options.ca = tls.ca.clone();
    peer.group_key = tls.pool_key;
    peer
}

/// `fail_to_connect`: counts the failure against the member (passive health, metrics,
/// status API) and says whether the request may try another member.
pub(super) fn connect_failed(peer: &HttpPeer, ctx: &mut ProxyCtx, mut e: Box<Error>) -> Box<Error> {
    if let Some(group) = ctx.upstream.group.clone() {
        let why = format!("connect to {peer} failed: {e}");
        if let Some(addr) = ctx.req.upstream_addr {
            group.report_failure(addr, &why);
        }
        group.metrics().connect_failure();
        ctx.outcome.error = Some(why);
        let retries_left = ctx.upstream.tried.len() <= group.spec().retries;
        tracing::warn!(request_id = %ctx.req.request_id, peer = %peer, retry = retries_left, "connect failed: {e}");
        e.set_retry(retries_left);
    }
    e
}

/// The member answered with `resp`: a success for passive health, the time to the answer
/// and its status for the log, a gRPC status in the header (trailers-only) for the log.
pub(super) fn answered(resp: &pingora::http::ResponseHeader, ctx: &mut ProxyCtx) {
    if let (Some(group), Some(addr)) = (&ctx.upstream.group, ctx.req.upstream_addr) {
        group.report_success(addr);
    }
    ctx.upstream.time = ctx.upstream.started.map(|t| t.elapsed());
    ctx.upstream.status = Some(resp.status.as_u16());
    if ctx.grpc.on {
        super::grpc::record_status(&resp.headers, &mut ctx.req);
    }
}
