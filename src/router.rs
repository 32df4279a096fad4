//! Routing: which route of a server block handles a request (first match in file order).
//! Requests are matched on their conformed host and path ([`crate::request::conform`]):
//! host lowercase without port or trailing dot, path decoded and normalized as nginx does.
//! Path matching is case-sensitive, as in nginx (`(?i)` in a `path_regex` for otherwise).

use std::sync::Arc;

use regex::Regex;

use crate::compress::CompressionSpec;
use crate::metrics::RouteMetrics;
use crate::plugin_api::PluginChain;

/// How a route matches the request path.
#[derive(Debug, Clone)]
pub enum PathMatch {
    /// Every path.
    Any,
    /// Exactly this path (query string excluded).
    Exact(String),
    /// Paths starting with this prefix.
    Prefix(String),
    /// Paths matching this regex.
    Regex(Regex),
}

impl PathMatch {
    /// True when `path` matches.
    pub fn matches(&self, path: &str) -> bool {
        match self {
            PathMatch::Any => true,
            PathMatch::Exact(p) => path == p,
            PathMatch::Prefix(p) => path.starts_with(p.as_str()),
            PathMatch::Regex(r) => r.is_match(path),
        }
    }
}

/// One route of a server block, ready to serve.
pub struct Route {
    /// Name (defaults to the match written in the file).
    pub name: Arc<str>,
    /// Host names (lowercase, without port); empty = any host.
    pub hosts: Vec<String>,
    /// Path match.
    pub path: PathMatch,
    /// Upstream group to proxy to; `None` means the content phase must answer (else 404).
    pub upstream: Option<Arc<str>>,
    /// Request body limit for this route.
    pub max_body_bytes: u64,
    /// Response compression in force for this route (`None`: off).
    pub compression: Option<Arc<CompressionSpec>>,
    /// The server block's plugins, then the route's; each phase runs them in this order.
    pub chain: PluginChain,
    /// Response caching (`cache = { use = "NAME", … }`); `None`: off.
    pub cache: Option<crate::http_cache::RouteCache>,
    /// Translate gRPC-Web calls to gRPC (docs/grpc.md).
    pub grpc_web: bool,
    /// The route's request metrics (`edgeproxy_requests_total{server, route, status}`,
    /// `edgeproxy_request_duration_seconds{server, route}`), resolved when it was built.
    pub metrics: RouteMetrics,
}

impl Route {
    /// True when the route accepts `host` (already lowercased, without port) and `path`.
    pub fn matches(&self, host: &str, path: &str) -> bool {
        (self.hosts.is_empty() || self.hosts.iter().any(|h| h == host)) && self.path.matches(path)
    }

    /// True when the route's requests never reach an upstream: no upstream of its own and
    /// no plugin that may choose one. Such a route's answers are written without
    /// pingora-proxy (`crate::proxy::direct`).
    pub fn is_local(&self) -> bool {
        self.upstream.is_none() && !self.chain.may_proxy()
    }
}

/// The routes of one server block, in file order.
#[derive(Clone, Default)]
pub struct Router {
    routes: Vec<Arc<Route>>,
}

impl Router {
    /// A router over `routes` (first match wins).
    pub fn new(routes: Vec<Arc<Route>>) -> Self {
        Router { routes }
    }

    /// The first route matching `host` (lowercase, without port) and `path` (normalized).
    pub fn find(&self, host: &str, path: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| r.matches(host, path))
    }

    /// Every route, in match order.
    pub fn routes(&self) -> &[Arc<Route>] {
        &self.routes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(name: &str, hosts: &[&str], path: PathMatch) -> Arc<Route> {
        Arc::new(Route {
            name: Arc::from(name),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            path,
            upstream: None,
            max_body_bytes: 0,
            compression: None,
            chain: PluginChain::default(),
            cache: None,
            grpc_web: false,
            metrics: RouteMetrics::new("router-unit", name),
        })
    }

    #[test]
    fn first_match_wins() {
        let router = Router::new(vec![
            route(
                "api",
                &["api.example.com"],
                PathMatch::Prefix("/v1/".into()),
            ),
            route("exact", &[], PathMatch::Exact("/health".into())),
            route("any", &[], PathMatch::Any),
        ]);
        let name = |host: &str, path: &str| router.find(host, path).map(|r| r.name.to_string());
        assert_eq!(name("api.example.com", "/v1/x").as_deref(), Some("api"));
        assert_eq!(name("other", "/v1/x").as_deref(), Some("any"));
        assert_eq!(name("other", "/health").as_deref(), Some("exact"));
        assert_eq!(name("other", "/health/x").as_deref(), Some("any"));
    }
}
