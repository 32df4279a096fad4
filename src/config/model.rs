//! What the config file says, as plain typed data: no sockets, no built plugins, no
//! running groups. The assembly step ([`crate::assembly`]) turns it into the running system.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::listen::ListenSpec;
use crate::cache::CacheSpec;
use crate::compress::CompressionSpec;
use crate::conn::ConnLimits;
use crate::realip::RealIp;
use crate::router::PathMatch;
use crate::upstream::GroupSpec;

/// The whole file, validated.
pub struct ConfigSpec {
    /// The config file (messages and relative paths refer to it).
    pub path: PathBuf,
    /// The file's text (the assembly step reports plugin errors at their position in it).
    pub source: String,
    /// Relative paths in the file (plugin files, `pid_file`, `upgrade_sock`, `error_log`)
    /// resolve against this: the config file's directory, or `-p PREFIX`.
    pub base_dir: PathBuf,
    /// Process-wide settings.
    pub process: ProcessSettings,
    /// Server blocks, in file order.
    pub servers: Vec<ServerBlockSpec>,
    /// Stream (TCP) blocks, in file order.
    pub streams: Vec<super::StreamSpec>,
    /// Upstream groups, in file order.
    pub upstreams: Vec<GroupSpec>,
    /// Tiered cache engines, by name.
    pub caches: BTreeMap<String, CacheConfig>,
}

/// One `[caches.NAME]` section.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// The engine's settings.
    pub spec: CacheSpec,
    /// Its response-caching settings (`[caches.NAME.http]`).
    pub http: crate::http_cache::HttpCacheSpec,
    /// The upstream group whose live members are the Redis nodes (`addresses_from`).
    pub addresses_from: Option<String>,
}

/// Process-wide settings (`[server]`).
#[derive(Debug, Clone)]
pub struct ProcessSettings {
    /// Worker threads per service.
    pub threads: usize,
    /// Whether a service's worker threads steal each other's tasks (one multi-thread
    /// runtime) or each run their own single-thread runtime (less synchronization).
    pub work_stealing: bool,
    /// Answer requests of local routes (no upstream) on Pingora's HTTP session directly,
    /// below pingora-proxy's per-request machinery (`direct_answers`, default on; see
    /// `crate::proxy::direct`).
    pub direct_answers: bool,
    /// How long the old process keeps serving after a graceful upgrade/shutdown begins.
    pub grace_period: Duration,
    /// Hard limit for finishing in-flight requests during shutdown.
    pub graceful_shutdown_timeout: Duration,
    /// Pid file.
    pub pid_file: PathBuf,
    /// Unix socket used to hand listeners to a new process (`-u`).
    pub upgrade_sock: PathBuf,
    /// Unix socket the running process takes `edgeproxy -s reload` on (mode 0600); by
    /// default beside the pid file, named after it (`edgeproxy.pid` → `edgeproxy.ctl`).
    pub control_sock: PathBuf,
    /// Error log file (stderr otherwise); reopened on SIGUSR1 (logrotate).
    pub error_log: Option<PathBuf>,
    /// Log filter (`info`, `warn`, `edgeproxy=debug,pingora=warn`, ...); the
    /// `EDGEPROXY_LOG` environment variable overrides it.
    pub log_level: String,
    /// This process's name among its peers (access events, hot-key reports):
    /// `[server] node_name`, default `<hostname>-<pid>`.
    pub node_name: String,
    /// `[server] config_source`: the configuration comes from Consul KV (docs/fleet.md);
    /// only in a node's bootstrap file, never in a fleet version.
    pub config_source: Option<Box<crate::fleet::FleetSpec>>,
}

impl ProcessSettings {
    /// The same settings with relative paths resolved against `base`.
    pub fn resolved(mut self, base: &Path) -> Self {
        let abs = |p: PathBuf| if p.is_absolute() { p } else { base.join(p) };
        self.pid_file = abs(self.pid_file);
        self.upgrade_sock = abs(self.upgrade_sock);
        self.control_sock = match self.control_sock.as_os_str().is_empty() {
            true => self.pid_file.with_extension("ctl"),
            false => abs(self.control_sock),
        };
        self.error_log = self.error_log.map(abs);
        self
    }

    /// The defaults for config file `path`: one thread, no work stealing, 5 s grace,
    /// 10 s shutdown limit, pid file and upgrade socket named after the file in the temp
    /// dir, the control socket beside the pid file.
    pub fn defaults_for(path: &Path) -> Self {
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("edgeproxy");
        ProcessSettings {
            threads: 1,
            work_stealing: false,
            direct_answers: direct_answers_default(),
            grace_period: Duration::from_secs(5),
            graceful_shutdown_timeout: Duration::from_secs(10),
            pid_file: std::env::temp_dir().join(format!("{stem}.pid")),
            upgrade_sock: std::env::temp_dir().join(format!("{stem}_upgrade.sock")),
            control_sock: PathBuf::new(),
            error_log: None,
            log_level: "info".to_string(),
            node_name: default_node_name(),
            config_source: None,
        }
    }
}

/// `direct_answers` unless the file says: on, unless the environment has
/// `EDGEPROXY_DIRECT_ANSWERS=off` (or `0`, `false`) — how `make test` runs the whole suite
/// on pingora-proxy's path too.
fn direct_answers_default() -> bool {
    !matches!(
        std::env::var("EDGEPROXY_DIRECT_ANSWERS").as_deref(),
        Ok("off" | "0" | "false")
    )
}

/// `<hostname>-<pid>`: unique per process, also when several run on one host.
/// Computed once per process: a reload in place reads the same default, also in a `-d`
/// process (forked after the config was first read, so its pid is another).
fn default_node_name() -> String {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_string())
            .filter(|h| !h.is_empty())
            .unwrap_or_else(|| "edgeproxy".to_string());
        format!("{host}-{}", std::process::id())
    })
    .clone()
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
    /// Keep request header names with underscores (nginx `underscores_in_headers`); off:
    /// they are dropped (`request::fields`).
    pub underscores_in_headers: bool,
}

impl Default for Limits {
    /// 32 KiB of headers, 100 headers, 8 KiB request-target, 1 MiB body; underscores in
    /// header names dropped.
    fn default() -> Self {
        Limits {
            max_header_bytes: 32 << 10,
            max_headers: 100,
            max_uri_bytes: 8 << 10,
            max_body_bytes: 1 << 20,
            underscores_in_headers: false,
        }
    }
}

/// One `[[servers]]` block.
pub struct ServerBlockSpec {
    /// Name (used in logs and metrics).
    pub name: String,
    /// Listening sockets.
    pub listen: Vec<ListenSpec>,
    /// Request limits.
    pub limits: Limits,
    /// Client timeouts and the connection cap.
    pub conn: ConnLimits,
    /// Response compression (`None`: off); routes inherit it.
    pub compression: Option<Arc<CompressionSpec>>,
    /// The real client address behind trusted proxies (`None`: the TCP peer).
    pub real_ip: Option<Arc<RealIp>>,
    /// Server-level plugins: run for every request of this block, before route plugins.
    pub plugins: Vec<PluginSpec>,
    /// Routes, first match wins in file order.
    pub routes: Vec<RouteSpec>,
}

/// One route of a server block.
pub struct RouteSpec {
    /// Name (defaults to the match written in the file).
    pub name: String,
    /// Host names (lowercase, without port); empty = any host.
    pub hosts: Vec<String>,
    /// Path match.
    pub path: PathMatch,
    /// Upstream group to proxy to; `None` means the content phase must answer (else 404).
    pub upstream: Option<String>,
    /// Request body limit for this route.
    pub max_body_bytes: u64,
    /// Response compression in force for this route (`None`: off).
    pub compression: Option<Arc<CompressionSpec>>,
    /// The route's own plugins, in order.
    pub plugins: Vec<PluginSpec>,
    /// Response caching (`cache = { use = "NAME", key = "…" }`); `None`: off.
    pub cache: Option<crate::http_cache::RouteCacheSpec>,
    /// Translate gRPC-Web calls to gRPC (`grpc_web = true`, docs/grpc.md).
    pub grpc_web: bool,
}

/// One `{ name = "...", config = { ... } }` plugin entry, not yet built.
#[derive(Debug, Clone)]
pub struct PluginSpec {
    /// The registered plugin name.
    pub name: String,
    /// Where the name is written.
    pub name_span: Option<Range<usize>>,
    /// The instance's identity across reloads (`id = "…"`), when its position is not
    /// enough (see [`crate::generation`]).
    pub id: Option<String>,
    /// The config table as a TOML value whose spans point into the config file
    /// (an empty table when `config` is absent).
    pub config: toml_edit::Value,
    /// Where the config table is written (inline table or `[...config]` header).
    pub config_span: Option<Range<usize>>,
}
