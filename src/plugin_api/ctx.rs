//! Per-request context handed to every plugin phase.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use pingora::http::RequestHeader;

use crate::cache::CacheLevel;
use crate::request::template::RequestView;
use crate::request::vars::{Vars, CONSUMER};

/// Typed framework fields plus typed extensions for plugin-private data.
#[derive(Debug)]
pub struct RequestCtx {
    /// Unique id of this request (also sent as `X-Request-Id`).
    pub request_id: String,
    /// The client's address (nginx `$remote_addr`, `$remote_port`): the TCP peer, replaced
    /// by the server block's `real_ip` rules when the peer is a trusted proxy (from
    /// `X-Forwarded-For`, `X-Real-IP` or the PROXY protocol; port 0 when the header gave
    /// none). Logs, hash keys, forwarding headers and plugins all use this one value; read
    /// it with [`RequestCtx::client_ip`].
    pub client_addr: Option<SocketAddr>,
    /// The TCP peer the request came from (nginx `$realip_remote_addr`), whatever
    /// `real_ip` decided.
    pub peer_addr: Option<SocketAddr>,
    /// The request came over TLS (nginx `$scheme` = `https`).
    pub https: bool,
    /// The name of the server block that accepted the request.
    pub server: Arc<str>,
    /// The name of the matched route, if any.
    pub route: Option<Arc<str>>,
    /// The upstream group the request goes to: the route's, unless a plugin chose another
    /// with [`set_upstream`](Self::set_upstream) (e.g. `gray-release`). `None` before
    /// routing and on routes without an upstream that no plugin gave one.
    pub upstream: Option<Arc<str>>,
    /// Variables plugins set for templates and logs (`$consumer`, `$jwt_NAME`).
    pub vars: Vars,
    /// The consistent-hash key used to pick the upstream, if any.
    pub hash_key: Option<String>,
    /// The cache level that answered, if a content plugin used the cache.
    pub cache_level: Option<CacheLevel>,
    /// The upstream peer the request was sent to, if proxied.
    pub upstream_addr: Option<SocketAddr>,
    /// The `grpc-status` a gRPC call ended with (the upstream's, or the proxy's own gRPC
    /// error answer), once known.
    pub grpc_status: Option<u32>,
    /// When the request started.
    pub started: Instant,
    /// Plugin-private data, keyed by type.
    pub extensions: http::Extensions,
}

impl RequestCtx {
    /// A fresh context for a request accepted by `server`.
    pub fn new(server: Arc<str>, request_id: String, client_addr: Option<SocketAddr>) -> Self {
        RequestCtx {
            request_id,
            client_addr,
            peer_addr: client_addr,
            https: false,
            server,
            route: None,
            upstream: None,
            vars: Vars::new(),
            hash_key: None,
            cache_level: None,
            upstream_addr: None,
            grpc_status: None,
            started: Instant::now(),
            extensions: http::Extensions::new(),
        }
    }

    /// A context for unit tests of plugins.
    pub fn for_test() -> Self {
        Self::new(Arc::from("test"), "test-request".to_string(), None)
    }

    /// The client's IP address (nginx `$remote_addr`): the real client once `real_ip` has
    /// run, else the TCP peer. What per-client plugins (rate limits, allow lists, logs)
    /// should key on.
    pub fn client_ip(&self) -> Option<IpAddr> {
        self.client_addr.map(|a| a.ip())
    }

    /// What request-variable templates read of `req` in this context: the request, the
    /// client (after `real_ip`) and the variables plugins set.
    pub fn view<'a>(&'a self, req: &'a RequestHeader) -> RequestView<'a> {
        RequestView {
            header: req,
            client: self.client_addr,
            vars: &self.vars,
        }
    }

    /// Sends this request to the upstream group `group` instead of the route's. The name
    /// must be a configured `[upstreams.NAME]`: check it when the plugin is built
    /// (`Shared::upstreams`); an unknown one answers 500. Set it in the rewrite or access
    /// phase (later, the request is already on its way). A server-level plugin that sets
    /// it before routing wins over the route's upstream.
    pub fn set_upstream(&mut self, group: &super::UpstreamRef) {
        self.upstream = Some(group.0.clone());
    }

    /// The client an authentication plugin recognised (`$consumer`), if any.
    pub fn consumer(&self) -> Option<&str> {
        self.vars.get(CONSUMER)
    }

    /// Records the client an authentication plugin recognised (`$consumer`: rate-limit
    /// keys, hash keys, access logs).
    pub fn set_consumer(&mut self, name: impl Into<String>) {
        self.vars.set(CONSUMER, name);
    }

    /// Time since the request started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }
}

/// What the log phase sees about a finished request.
#[derive(Debug)]
pub struct LogEntry<'a> {
    /// The request header as it was after the rewrite phase.
    pub request: &'a RequestHeader,
    /// The response status sent (0 when nothing could be sent).
    pub status: u16,
    /// Response body bytes sent to the client.
    pub body_bytes: usize,
    /// Total time spent on the request.
    pub duration: Duration,
    /// The error that ended the request, if any.
    pub error: Option<String>,
    /// From choosing the upstream peer to its response header (nginx
    /// `$upstream_header_time`), when the request was proxied and answered.
    pub upstream_time: Option<Duration>,
}
