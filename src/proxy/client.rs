//! Who the client is: the TCP peer, the real address behind trusted proxies (`real_ip`),
//! and whether the request came over TLS. Set once, at the start of `request_filter`,
//! before any plugin, limit or log line can look.

use pingora::proxy::Session;

use crate::plugin_api::RequestCtx;
use crate::realip::RealIp;
use crate::request::OverTls;

/// Fills `ctx.peer_addr`, `ctx.client_addr` (what everything after uses: logs, hash keys,
/// forwarding headers, plugins) and `ctx.https`.
pub(super) fn identify(session: &mut Session, ctx: &mut RequestCtx, real_ip: Option<&RealIp>) {
    let peer = session.client_addr().and_then(|a| a.as_inet()).copied();
    ctx.peer_addr = peer;
    ctx.client_addr = match (real_ip, peer) {
        // With `proxy_protocol` listeners the connection layer (`conn::gate`) has already
        // made the PROXY header's source the peer, when the balancer is in `real_ip.from`.
        (Some(r), Some(p)) => Some(r.resolve(p, session.req_header(), None)),
        _ => peer,
    };
    ctx.https = session.digest().is_some_and(|d| d.ssl_digest.is_some());
    if ctx.https {
        session.req_header_mut().extensions_mut().insert(OverTls);
    }
}
