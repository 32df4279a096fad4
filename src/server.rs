//! Building and running the Pingora server from a validated config.

use pingora::proxy::http_proxy;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::Server;

use std::time::Duration;

use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::assembly::App;
use crate::cache_service::CacheSubscribers;
use crate::conn::Guarded;
use crate::discovery::{self, DiscoveryService};
use crate::drain::DrainWatch;
use crate::proxy::EdgeProxy;
use crate::upstream::ConsulError;

/// Command-line switches that affect how the process runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunOptions {
    /// Take over the listeners of a running instance (graceful upgrade).
    pub upgrade: bool,
    /// Run in the background.
    pub daemon: bool,
}

/// Builds the Pingora server for `config`: one proxy service per server block (Pingora's
/// HTTP proxy behind the block's connection limits, [`Guarded`]), plus the
/// discovery service when any upstream group follows Consul or has active health checks.
/// Fails when a `strong_dependency` Consul cannot be read.
pub fn build(config: &App, opts: RunOptions) -> Result<Server, ConsulError> {
    let watchers = discovery::prepare(&config.upstreams)?;
    let p = &config.process;
    let conf = ServerConf {
        threads: p.threads,
        work_stealing: p.work_stealing,
        daemon: opts.daemon,
        pid_file: p.pid_file.display().to_string(),
        upgrade_sock: p.upgrade_sock.display().to_string(),
        error_log: p.error_log.as_ref().map(|e| e.display().to_string()),
        grace_period_seconds: Some(p.grace_period.as_secs()),
        graceful_shutdown_timeout_seconds: Some(p.graceful_shutdown_timeout.as_secs()),
        ..ServerConf::default()
    };
    let opt = Opt {
        upgrade: opts.upgrade,
        daemon: opts.daemon,
        ..Opt::default()
    };
    let mut server = Server::new_with_opt_and_conf(opt, conf);
    server.bootstrap();
    for block in &config.servers {
        let proxy = EdgeProxy::new(block, config.upstreams.clone());
        let proxy = http_proxy(&server.configuration, proxy);
        let app = Guarded::new(proxy, block.conn, &block.name);
        let mut svc = Service::new(block.name.to_string(), app);
        for addr in &block.listen {
            svc.add_tcp(&addr.to_string());
        }
        server.add_service(svc);
    }
    if discovery::needed(&watchers, &config.upstreams) {
        let svc =
            DiscoveryService::new(watchers, config.upstreams.clone(), Duration::from_secs(60));
        server.add_service(background_service("upstream discovery and health", svc));
    }
    let drain = DrainWatch::new(server.watch_execution_phase());
    server.add_service(background_service("drain watch", drain));
    if !config.caches.is_empty() {
        let svc = CacheSubscribers::new(config.caches.clone());
        server.add_service(background_service("cache purge subscribers", svc));
    }
    Ok(server)
}

/// Builds and runs the server until it is told to stop; never returns.
pub fn run(config: App, opts: RunOptions) -> ! {
    let server = match build(&config, opts) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("edgeproxy: cannot start: {e}");
            std::process::exit(1);
        }
    };
    tracing::info!(
        config = %config.path.display(),
        servers = config.servers.len(),
        "edgeproxy starting"
    );
    server.run_forever()
}
