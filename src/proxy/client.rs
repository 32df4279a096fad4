//! Who the client is: the TCP peer, the real address behind trusted proxies (`real_ip`),
//! and whether the request came over TLS. Set once, at the start of `request_filter`,
//! before any plugin, limit or log line can look.

use std::net::SocketAddr;

use pingora::proxy::Session;

use crate::plugin_api::RequestCtx;
use crate::realip::RealIp;

/// Fills `ctx.peer_addr`, `ctx.client_addr` (what everything after uses: logs, hash keys,
/// forwarding headers, plugins) and `ctx.https`.
pub(super) fn identify(session: &Session, ctx: &mut RequestCtx, real_ip: Option<&RealIp>) {
    let peer = session.client_addr().and_then(|a| a.as_inet()).copied();
    ctx.peer_addr = peer;
    ctx.client_addr = match (real_ip, peer) {
        (Some(r), Some(p)) => Some(r.resolve(p, session.req_header(), proxy_protocol(session))),
        _ => peer,
    };
    ctx.https = session.digest().is_some_and(|d| d.ssl_digest.is_some());
}

/// The source address of the connection's PROXY protocol header (v1/v2), if it had one.
/// The connection layer's PROXY protocol support supplies it here; `real_ip` then uses it
/// with `header = "proxy_protocol"` when the TCP peer is trusted.
fn proxy_protocol(_session: &Session) -> Option<SocketAddr> {
    None
}
