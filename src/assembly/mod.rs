//! Assembly: turns the specs read by [`crate::config`] into the running system — upstream
//! groups, cache engines, the [`Shared`] handles, plugin chains and one router per server
//! block. Opens no sockets: `edgeproxy -t` runs exactly this, and [`crate::server`] then
//! binds listeners and starts the background services for the result.

mod chains;
mod listeners;

pub use listeners::Listener;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use crate::cache::{SeedSource, TieredCache};
use crate::compress::CompressionSpec;
use crate::config::{self, ConfigSpec, Diagnostics, Limits, ProcessSettings};
use crate::conn::ConnLimits;
use crate::hot::HotGroups;
use crate::plugin_api::{Caches, PluginChain, Registry, Shared};
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
    /// Upstream groups, by name.
    pub upstreams: Upstreams,
    /// Tiered cache engines, by name.
    pub caches: Caches,
    /// Problems that do not stop the config (e.g. a certificate expiring soon), rendered
    /// `FILE:LINE:COL: warning: ...`.
    pub warnings: Vec<String>,
    /// Hot-key machinery of the groups with a `hot` table.
    pub hot: HotGroups,
}

/// One server block, ready to serve.
pub struct ServerBlock {
    /// Name (used in logs and metrics).
    pub name: Arc<str>,
    /// Listening sockets.
    pub listen: Vec<Listener>,
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
    let mut d = Diagnostics::new(&spec.path, spec.source);
    let upstreams: BTreeMap<String, Arc<UpstreamGroup>> = spec
        .upstreams
        .into_iter()
        .map(|mut g| {
            if let Some(tls) = g.tls.as_mut() {
                if let Err(e) = tls.for_group(&g.name, &spec.base_dir) {
                    d.error(tls.ca_span.clone(), format!("upstream `{}`: {e}", g.name));
                }
            }
            (g.name.clone(), Arc::new(UpstreamGroup::new(g)))
        })
        .collect();
    let upstreams: Upstreams = Arc::new(upstreams);
    let caches: BTreeMap<String, TieredCache> = spec
        .caches
        .into_iter()
        .map(|(name, c)| {
            let mut cache = c.spec;
            if let (Some(redis), Some(group)) = (
                cache.redis.as_mut(),
                c.addresses_from.and_then(|g| upstreams.get(&g).cloned()),
            ) {
                redis.seeds_from = Some(redis_nodes_of(group));
            }
            let engine = TieredCache::named(&name, cache);
            (name, engine)
        })
        .collect();
    let caches: Caches = Arc::new(caches);
    let node_name: Arc<str> = Arc::from(spec.process.node_name.as_str());
    let shared = Shared {
        config_dir: spec.base_dir.clone(),
        hot: crate::hot::build(&upstreams, &caches, &node_name),
        upstreams,
        caches,
        check_only,
        node_name,
    };
    let builder = chains::ChainBuilder::new(registry, &shared);
    let mut warnings = Vec::new();
    let servers = spec
        .servers
        .into_iter()
        .map(|block| {
            let plugins = PluginChain::new(&builder.build_all(&mut d, &block.plugins), Vec::new());
            let routes = block
                .routes
                .into_iter()
                .map(|r| Arc::new(builder.route(&mut d, &block.name, r, &plugins)))
                .collect();
            let name: Arc<str> = Arc::from(block.name);
            let listen = listeners::build(
                &mut d,
                &mut warnings,
                &name,
                block.listen,
                &spec.base_dir,
                check_only,
                block.real_ip.is_some(),
            );
            ServerBlock {
                name,
                listen,
                limits: block.limits,
                conn: block.conn,
                compression: block.compression,
                real_ip: block.real_ip,
                plugins,
                router: Router::new(routes),
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
        upstreams: shared.upstreams,
        caches: shared.caches,
        warnings,
        hot: shared.hot,
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
