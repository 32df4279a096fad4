//! A server block's listeners on its Pingora service: plain or TLS sockets, the HTTP/2
//! settings of its proxy, and the connection gate (PROXY protocol, h2c).

use std::net::SocketAddr;
use std::sync::Arc;

use pingora::apps::{HttpServerOptions, ServerApp};
use pingora::protocols::http::v2::server::{default_h2_options, H2Options};
use pingora::proxy::{http_proxy, HttpProxy, ProxyHttp};
use pingora::server::configuration::ServerConf;
use pingora::services::listening::Service;

use super::StartError;
use crate::assembly::ServerBlock;
use crate::conn::{Gate, PreTlsGate};
use crate::tls;

/// Pingora's HTTP proxy for `block`, with its HTTP/2 settings: streams per connection
/// bounded by `http2_max_concurrent_streams` on top of Pingora's bounded defaults (64 KiB
/// header list; a budget for small DATA frames fit for gRPC streams; h2's limits on pending and locally reset streams against rapid reset and
/// CONTINUATION floods), the idle timeout of a connection without streams =
/// `keepalive_timeout`, and h2c when a plain listener has `http2 = true`.
pub fn http_app<P: ProxyHttp>(
    conf: &Arc<ServerConf>,
    block: &ServerBlock,
    proxy: P,
) -> HttpProxy<P> {
    let mut app = http_proxy(conf, proxy);
    let mut opts = HttpServerOptions::default();
    opts.h2c = block.listen.iter().any(|l| l.tls.is_none() && l.http2);
    let idle = block.conn.keepalive_timeout;
    opts.h2_idle_timeout = Some(match idle.is_zero() {
        true => block.conn.client_header_timeout,
        false => idle,
    });
    app.server_options = Some(opts);
    app.h2_options = Some(h2_options(block.conn.http2_max_concurrent_streams));
    app
}

fn h2_options(max_streams: u32) -> H2Options {
    let mut h2 = default_h2_options();
    h2.max_concurrent_streams(max_streams);
    h2.data_frame_budget(SMALL_FRAME_BUDGET);
    h2
}

/// How much framing overhead of small DATA frames a client connection may have buffered
/// (h2 0.4.20 counts `256 - payload` bytes per frame under 256 bytes and answers GOAWAY
/// ENHANCE_YOUR_CALM `too_many_data_frames` past it). h2's default (half the window,
/// ~32 KiB: ~130 small frames) cut a gRPC stream of small messages as soon as its upstream
/// was a little slower than the client. 4 MiB holds a whole 64 KiB connection window of the
/// smallest gRPC messages (5-byte frames: 13,107 × 251 bytes), and is what Pingora's
/// upstream side gets from its 8 MiB window.
const SMALL_FRAME_BUDGET: usize = 4 << 20;

/// The listeners of stream block `block` (bound at `bound`): plain TCP, or TLS terminated
/// here (no ALPN protocol offered beyond `http/1.1`'s default).
pub fn add_stream<A: ServerApp + Send + Sync + 'static>(
    svc: &mut Service<A>,
    block: &crate::stream::StreamBlock,
    bound: &[SocketAddr],
) -> Result<(), StartError> {
    for (l, bound) in block.listen.iter().zip(bound) {
        let addr = bound.to_string();
        let Some(certs) = &l.tls else {
            svc.add_tcp(&addr);
            continue;
        };
        let settings = tls::settings(certs.clone(), false).map_err(|e| StartError::Tls {
            addr: *bound,
            server: block.name.to_string(),
            reason: e.to_string(),
        })?;
        svc.add_tls_with_settings(&addr, None, settings);
    }
    Ok(())
}

/// The connection gate of `block`'s listeners, which listen on `bound` (in the order of
/// `block.listen`; port 0 resolved).
pub fn gate(block: &ServerBlock, bound: &[SocketAddr]) -> Gate {
    let addrs = |f: fn(&crate::assembly::Listener) -> bool| -> Vec<SocketAddr> {
        block
            .listen
            .iter()
            .zip(bound)
            .filter(|(l, _)| f(l))
            .map(|(_, addr)| *addr)
            .collect()
    };
    Gate {
        h2c: addrs(|l| l.tls.is_none() && l.http2),
        proxy_protocol: addrs(|l| l.proxy_protocol),
        trusted: match &block.real_ip {
            Some(real_ip) => {
                let real_ip = real_ip.clone();
                Arc::new(move |ip| real_ip.trusted.contains(ip))
            }
            None => Arc::new(|_| false),
        },
        timeout: block.conn.client_header_timeout,
    }
}

/// Adds `block`'s listeners to `svc`, on the addresses in `bound` (in the order of
/// `block.listen`; port 0 resolved; the keys of the sockets bound for them).
pub fn add<A: ServerApp + Send + Sync + 'static>(
    svc: &mut Service<A>,
    block: &ServerBlock,
    bound: &[SocketAddr],
    gate: Gate,
) -> Result<(), StartError> {
    let mut pre_tls = false;
    for (l, bound) in block.listen.iter().zip(bound) {
        let addr = bound.to_string();
        let Some(certs) = &l.tls else {
            svc.add_tcp(&addr);
            continue;
        };
        let settings = tls::settings(certs.clone(), l.http2).map_err(|e| StartError::Tls {
            addr: *bound,
            server: block.name.to_string(),
            reason: e.to_string(),
        })?;
        svc.add_tls_with_settings(&addr, None, settings);
        pre_tls |= l.proxy_protocol;
    }
    if pre_tls {
        svc.endpoints()
            .set_pre_tls_callback(Arc::new(PreTlsGate(gate)));
    }
    Ok(())
}
