//! Assembly: turns the specs read by [`crate::config`] into the running system — upstream
//! groups, cache engines, the [`Shared`] handles, plugin chains and one router per server
//! block. Opens no sockets: `edgeproxy -t` runs exactly this, and [`crate::server`] then
//! binds listeners and starts the background services for the result.

mod chains;
mod fingerprint;
mod listeners;

use fingerprint::Fingerprints;

pub use listeners::Listener;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::cache::{SeedSource, TieredCache};
use crate::compress::CompressionSpec;
use crate::config::{self, ConfigSpec, Diagnostics, Limits, ListenSpec, ProcessSettings};
use crate::conn::ConnLimits;
use crate::generation::Carry;
use crate::hot::HotGroups;
use crate::http_cache::ResponseCache;
use crate::plugin_api::{Caches, PluginCarry, PluginChain, Registry, Shared};
use crate::realip::RealIp;
use crate::router::Router;
use crate::upstream::{UpstreamGroup, Upstreams};

/// The assembled configuration: everything built, nothing listening yet.
pub struct App {
    /// The config file.
    pub path: PathBuf,
    /// Process-wide settings, relative paths resolved against the base directory.
    pub process: ProcessSettings,
    /// Server blocks (each becomes one Pingora service with its own listeners and routes).
    pub servers: Vec<ServerBlock>,
    /// Stream blocks (each one Pingora service proxying TCP connections).
    pub streams: Vec<crate::stream::StreamBlock>,
    /// Upstream groups, by name.
    pub upstreams: Upstreams,
    /// Tiered cache engines, by name.
    pub caches: Caches,
    /// Problems that do not stop the config (e.g. a certificate expiring soon), rendered
    /// `FILE:LINE:COL: warning: ...`.
    pub warnings: Vec<String>,
    /// Hot-key machinery of the groups with a `hot` table.
    pub hot: HotGroups,
    /// The long-lived parts this assembly holds (offered to the next generation).
    pub carry: Arc<Carry>,
    /// SipHash of the config text assembled (hex): the file as it was read, once.
    pub source_hash: String,
}

/// One server block, ready to serve.
pub struct ServerBlock {
    /// Name (used in logs and metrics).
    pub name: Arc<str>,
    /// Listening sockets.
    pub listen: Vec<Listener>,
    /// The listen entries as configured (a reload in place needs them unchanged).
    pub listen_specs: Vec<ListenSpec>,
    /// Request limits.
    pub limits: Limits,
    /// Client timeouts and the connection cap.
    pub conn: ConnLimits,
    /// Response compression before routing (404s, refusals); routes carry their own.
    pub compression: Option<Arc<CompressionSpec>>,
    /// The real client address behind trusted proxies (`None`: the TCP peer).
    pub real_ip: Option<Arc<RealIp>>,
    /// Server-level plugins (they run alone when no route matches, e.g. for 404s).
    pub plugins: PluginChain,
    /// The block's routes.
    pub router: Router,
    /// The block or one of its routes compresses responses.
    pub compresses: bool,
    /// Which requests are answered below pingora-proxy (`crate::proxy::direct`).
    pub direct: DirectScope,
}

/// Which requests of a server block are answered below pingora-proxy
/// (`crate::proxy::direct`). Only blocks without server-level plugins (whose rewrite runs
/// before routing) answer any, and only with `[server] direct_answers` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DirectScope {
    /// None: every request goes to pingora-proxy.
    Off,
    /// Those whose first bytes route to a local route.
    Local,
    /// All: every route is local, so nothing needs to be looked at first.
    All,
}

/// Reads the config at `path` and assembles it; on failure returns every problem.
/// `check_only` is passed to plugin factories (`edgeproxy -t`: build and check, start nothing).
pub fn load(path: &Path, registry: &Registry, check_only: bool) -> Result<App, Diagnostics> {
    assemble(config::read(path)?, registry, check_only)
}

/// Like [`load`], from text already read (`path` is used for messages and relative paths).
pub fn load_str(
    path: &Path,
    source: String,
    registry: &Registry,
    check_only: bool,
) -> Result<App, Diagnostics> {
    assemble(config::read_str(path, source)?, registry, check_only)
}

/// Builds the running system from `spec`; plugin errors are reported at their position.
pub fn assemble(
    spec: ConfigSpec,
    registry: &Registry,
    check_only: bool,
) -> Result<App, Diagnostics> {
    assemble_with(spec, registry, check_only, &Carry::first())
}

/// Like [`assemble`], taking every long-lived part (upstream group, cache engine, hot-key
/// machinery, plugin state) from `carry` — the running one when the previous generation
/// had it built from the same spec (see [`crate::generation`]).
pub fn assemble_with(
    spec: ConfigSpec,
    registry: &Registry,
    check_only: bool,
    carry: &Arc<Carry>,
) -> Result<App, Diagnostics> {
    let source_hash = crate::generation::hash_text(&spec.source);
    let mut d = Diagnostics::new(&spec.path, spec.source.clone());
    let prints = Fingerprints::of(&spec.source, &spec.base_dir);
    let mut upstreams: BTreeMap<String, Arc<UpstreamGroup>> = BTreeMap::new();
    for mut g in spec.upstreams {
        let name = g.name.clone();
        let print = prints.table(&["upstreams", &name]);
        let built = carry.part(&format!("upstream/{name}"), &print, || {
            if let Some(tls) = g.tls.as_mut() {
                if let Err(e) = tls.for_group(&g.name, &spec.base_dir) {
                    return Err((tls.ca_span.clone(), format!("upstream `{}`: {e}", g.name)));
                }
            }
            Ok(Arc::new(UpstreamGroup::new(g)))
        });
        match built {
            Ok(group) => {
                upstreams.insert(name, group);
            }
            Err((span, msg)) => d.error(span, msg),
        }
    }
    let upstreams: Upstreams = Arc::new(upstreams);
    let mut caches: BTreeMap<String, TieredCache> = BTreeMap::new();
    let mut http_caches = chains::HttpCaches::new();
    for (name, c) in spec.caches {
        // A cache is rebuilt with the groups whose nodes or hot-key reports it carries.
        let mut print = prints.table(&["caches", &name]);
        if let Some(g) = &c.addresses_from {
            print.push_str(&prints.table(&["upstreams", g]));
        }
        for g in upstreams.values() {
            if g.spec().hot.as_ref().and_then(|h| h.cache.as_deref()) == Some(name.as_str()) {
                print.push_str(&prints.table(&["upstreams", g.name()]));
            }
        }
        let engine = carry.get_or(&format!("cache/{name}"), &print, || {
            let mut cache = c.spec;
            if let (Some(redis), Some(group)) = (
                cache.redis.as_mut(),
                c.addresses_from.and_then(|g| upstreams.get(&g).cloned()),
            ) {
                redis.seeds_from = Some(redis_nodes_of(group));
            }
            Arc::new(TieredCache::named(&name, cache))
        });
        // Built with its engine (same fingerprint), so the two are carried or rebuilt together.
        let http = carry.get_or(&format!("http-cache/{name}"), &print, || {
            Arc::new(ResponseCache::new((*engine).clone(), c.http))
        });
        http_caches.insert(name.clone(), (*http).clone());
        caches.insert(name, (*engine).clone());
    }
    let caches: Caches = Arc::new(caches);
    let node_name: Arc<str> = Arc::from(spec.process.node_name.as_str());
    let shared = Shared {
        config_dir: spec.base_dir.clone(),
        hot: crate::hot::build(&upstreams, &caches, &node_name, carry),
        upstreams,
        caches,
        check_only,
        node_name,
        carry: PluginCarry {
            store: carry.clone(),
            instance: Arc::from(""),
            config: Arc::from(""),
        },
        chose_upstream: Default::default(),
    };
    let builder = chains::ChainBuilder::new(registry, &shared, &prints);
    let mut warnings = Vec::new();
    let servers = spec
        .servers
        .into_iter()
        .map(|block| {
            let at = format!("server:{}", block.name);
            let plugins = builder.build_all(&mut d, &at, &block.plugins);
            let plugins = PluginChain::new(&plugins, Vec::new());
            let routes = block
                .routes
                .into_iter()
                .map(|r| Arc::new(builder.route(&mut d, &block.name, r, &plugins, &http_caches)))
                .collect();
            let name: Arc<str> = Arc::from(block.name);
            let listen_specs = block.listen.clone();
            let listen = listeners::build(
                &mut d,
                &mut warnings,
                &name,
                block.listen,
                &spec.base_dir,
                check_only,
                block.real_ip.is_some(),
            );
            let router = Router::new(routes);
            let compresses = block.compression.is_some()
                || router.routes().iter().any(|r| r.compression.is_some());
            let local = router.routes().iter().filter(|r| r.is_local()).count();
            let direct = match (spec.process.direct_answers && plugins.is_empty(), local) {
                (false, _) | (true, 0) => DirectScope::Off,
                (true, n) if n == router.routes().len() => DirectScope::All,
                (true, _) => DirectScope::Local,
            };
            ServerBlock {
                direct,
                name,
                listen,
                listen_specs,
                limits: block.limits,
                conn: block.conn,
                compression: block.compression,
                real_ip: block.real_ip,
                plugins,
                router,
                compresses,
            }
        })
        .collect();
    let streams = spec
        .streams
        .into_iter()
        .map(|s| {
            let name: Arc<str> = Arc::from(s.name.as_str());
            let listen = s.listen.clone();
            let listen = listeners::build(
                &mut d,
                &mut warnings,
                &name,
                listen,
                &spec.base_dir,
                check_only,
                true,
            );
            crate::stream::StreamBlock {
                metrics: Arc::new(crate::stream::StreamMetrics::new(&name)),
                name,
                listen,
                spec: s,
            }
        })
        .collect();
    if !d.is_empty() {
        d.sort();
        return Err(d);
    }
    Ok(App {
        path: spec.path,
        process: spec.process.resolved(&spec.base_dir),
        servers,
        streams,
        upstreams: shared.upstreams,
        caches: shared.caches,
        warnings,
        hot: shared.hot,
        carry: carry.clone(),
        source_hash,
    })
}

/// The live Redis node list of a cache whose nodes are an upstream group's members.
fn redis_nodes_of(group: Arc<UpstreamGroup>) -> SeedSource {
    SeedSource(Arc::new(move || {
        group
            .members()
            .iter()
            .filter(|m| !m.down)
            .map(|m| format!("redis://{}", m.addr))
            .collect()
    }))
}
