//! Validated, typed configuration (what the server runs from).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use crate::plugin::Caches;
use crate::plugin::Plugin;
use crate::upstream::Upstreams;

/// The whole validated configuration, with plugins built.
pub struct Config {
    /// The config file.
    pub path: PathBuf,
    /// Process-wide settings.
    pub process: ProcessSettings,
    /// Server blocks (each is one Pingora service with its own listeners and routes).
    pub servers: Vec<ServerBlock>,
    /// Upstream groups, by name.
    pub upstreams: Upstreams,
    /// Tiered cache engines, by name.
    pub caches: Caches,
}

/// Process-wide settings (`[server]`).
#[derive(Debug, Clone)]
pub struct ProcessSettings {
    /// Worker threads per service.
    pub threads: usize,
    /// Whether a service's worker threads steal each other's tasks (one multi-thread
    /// runtime) or each run their own single-thread runtime (less synchronization).
    pub work_stealing: bool,
    /// How long the old process keeps serving after a graceful upgrade/shutdown begins.
    pub grace_period: Duration,
    /// Hard limit for finishing in-flight requests during shutdown.
    pub graceful_shutdown_timeout: Duration,
    /// Pid file.
    pub pid_file: PathBuf,
    /// Unix socket used to hand listeners to a new process (`-u`).
    pub upgrade_sock: PathBuf,
    /// Error log file for daemon mode (stderr otherwise).
    pub error_log: Option<PathBuf>,
}

/// Request limits of a server block.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total request header bytes (431 above).
    pub max_header_bytes: usize,
    /// Number of request headers (431 above).
    pub max_headers: usize,
    /// Request-target length (414 above).
    pub max_uri_bytes: usize,
    /// Default request body limit (413 above); routes may override.
    pub max_body_bytes: u64,
}

/// One `[[servers]]` block.
pub struct ServerBlock {
    /// Name (used in logs and metrics).
    pub name: Arc<str>,
    /// Listening addresses.
    pub listen: Vec<SocketAddr>,
    /// Request limits.
    pub limits: Limits,
    /// Server-level plugins: run for every request of this block, before route plugins
    /// (and alone when no route matches, e.g. for 404s and limit refusals).
    pub plugins: Vec<PluginInstance>,
    /// Routes, first match wins in file order.
    pub routes: Vec<Arc<Route>>,
}

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

/// A plugin instance in a route's chain.
#[derive(Clone)]
pub struct PluginInstance {
    /// The plugin's registered name (for logs and errors).
    pub name: Arc<str>,
    /// The built plugin.
    pub plugin: Arc<dyn Plugin>,
}

/// One route of a server block.
pub struct Route {
    /// Name (defaults to the match written in the file).
    pub name: Arc<str>,
    /// Host names (lowercase, without port); empty = any host.
    pub hosts: Vec<String>,
    /// Path match.
    pub path: PathMatch,
    /// Upstream group to proxy to; `None` means the content phase must answer (else 404).
    pub upstream: Option<String>,
    /// Request body limit for this route.
    pub max_body_bytes: u64,
    /// Plugins, in order (server-level ones first); each phase runs them in this order.
    pub plugins: Vec<PluginInstance>,
}

impl Route {
    /// True when the route accepts `host` (already lowercased, without port) and `path`.
    pub fn matches(&self, host: &str, path: &str) -> bool {
        (self.hosts.is_empty() || self.hosts.iter().any(|h| h == host)) && self.path.matches(path)
    }
}
