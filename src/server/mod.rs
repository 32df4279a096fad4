//! Building and running the Pingora server from an assembled config.

use std::net::SocketAddr;
use std::time::Duration;

use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;

use crate::assembly::App;
use crate::cache::CacheSubscribers;
use crate::conn::Guarded;
use crate::drain::DrainWatch;
use crate::generation::{Generation, Source, World};
use crate::hot::HotService;
use crate::plugin_api::Registry;
use crate::proxy::{EdgeProxy, Lingering};
use crate::signals::{self, Signals};
use crate::stream::StreamApp;
use crate::tls::reload::CertWatch;
use crate::upstream::discovery::{self, DiscoveryService};
use crate::upstream::ConsulError;

mod bind;
pub mod control_sock;
mod listeners;

use bind::PreBound;
pub use bind::{bind, Bound};
pub use control_sock::ControlSocket;

/// Command-line switches that affect how the process runs.
#[derive(Debug, Default, Clone, Copy)]
pub struct RunOptions {
    /// Take over the listeners of a running instance (graceful upgrade).
    pub upgrade: bool,
    /// Run in the background.
    pub daemon: bool,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A `strong_dependency` Consul source could not be read.
    #[error(transparent)]
    Consul(#[from] ConsulError),
    /// A TLS listener cannot be set up.
    #[error("cannot set up TLS on {addr} (server block `{server}`): {reason}")]
    Tls {
        /// The address.
        addr: SocketAddr,
        /// The server block listening on it.
        server: String,
        /// Pingora's error.
        reason: String,
    },
    /// A listen address is taken (and the process was not started to take it over).
    #[error("cannot listen on {addr} (server block `{server}`): {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The server block listening on it.
        server: String,
        /// The OS error (e.g. address already in use).
        source: std::io::Error,
    },
}

/// How long a new process (`-u`) waits for the running one to hand its listeners over.
const UPGRADE_WAIT_SECS: usize = 30;

/// Builds the Pingora server for `app` on sockets bound now ([`bind`]): fails when a
/// listen address is already in use (unless `opts.upgrade`), then as [`build_on`].
pub fn build(
    app: App,
    registry: Registry,
    source: Source,
    opts: RunOptions,
) -> Result<(Server, World), StartError> {
    let bound = bind(&app, opts)?;
    build_on(app, registry, source, bound, opts)
}

/// Builds the Pingora server for `app` (assembled with `registry` from `source`, which a
/// reload in place reads again) on the sockets of `bound` (bound for the same app): one
/// proxy service per server block (Pingora's HTTP proxy behind the block's connection
/// limits, [`Guarded`]) serving the current configuration generation of the returned
/// [`World`], the background services that follow it (discovery and health, hot keys,
/// cache purge subscribers), the certificate watch and the control socket. Fails when a
/// `strong_dependency` Consul cannot be read.
pub fn build_on(
    app: App,
    registry: Registry,
    source: Source,
    mut bound: Bound,
    opts: RunOptions,
) -> Result<(Server, World), StartError> {
    let watchers = discovery::prepare(&app.upstreams)?;
    let p = app.process.clone();
    let conf = ServerConf {
        threads: p.threads,
        work_stealing: p.work_stealing,
        daemon: opts.daemon,
        // Not `daemon_wait_for_ready`: in pingora 0.9.1 the parent installs its SIGUSR1
        // handler only after the fork, so a quickly ready child kills it (exit 138).
        pid_file: p.pid_file.display().to_string(),
        upgrade_sock: p.upgrade_sock.display().to_string(),
        upgrade_sock_connect_accept_max_retries: Some(UPGRADE_WAIT_SECS),
        error_log: daemon_error_log(&app, opts),
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
    // Bootstrap (receiving the listeners with `-u`) runs as a service, after daemonizing,
    // and every listening service waits for it.
    let bootstrap = server.bootstrap_as_a_service();
    // Idle keep-alive connections outlive the listeners by most of the grace period.
    let linger = p.grace_period.saturating_sub(Duration::from_millis(500));
    let fleet = source.fleet.clone();
    let world = World::new(Generation::first(app, watchers), registry, source);
    let gen = world.current();
    let mut certs = Vec::new();
    for (index, block) in gen.app.servers.iter().enumerate() {
        let proxy = EdgeProxy::new(world.clone(), index);
        let proxy = Lingering::new(
            listeners::http_app(&server.configuration, block, proxy),
            linger,
        );
        let addrs = bound.block_addrs(index);
        let gate = listeners::gate(block, &addrs);
        let guarded = Guarded::new(proxy, block.conn, &block.name).with_gate(gate.clone());
        let mut svc = Service::new(block.name.to_string(), guarded);
        listeners::add(&mut svc, block, &addrs, gate)?;
        certs.extend(block.listen.iter().filter_map(|l| l.tls.clone()));
        let svc = PreBound::new(svc, bound.take_block(index));
        server.add_service(svc).add_dependency(&bootstrap);
    }
    for (index, block) in gen.app.streams.iter().enumerate() {
        let at = gen.app.servers.len() + index;
        let app = StreamApp::new(world.clone(), index, block.spec.max_connections);
        let mut svc = Service::new(block.name.to_string(), app);
        listeners::add_stream(&mut svc, block, &bound.block_addrs(at))?;
        certs.extend(block.listen.iter().filter_map(|l| l.tls.clone()));
        let svc = PreBound::new(svc, bound.take_block(at));
        server.add_service(svc).add_dependency(&bootstrap);
    }
    if !certs.is_empty() {
        server.add_service(background_service(
            "tls certificates",
            CertWatch::new(certs),
        ));
    }
    let svc = DiscoveryService::new(world.clone(), Duration::from_secs(60));
    server.add_service(background_service("upstream discovery and health", svc));
    let drain = DrainWatch::new(server.watch_execution_phase());
    server.add_service(background_service("drain watch", drain));
    server.add_service(background_service(
        "hot keys",
        HotService::new(world.clone()),
    ));
    let svc = CacheSubscribers::new(world.clone());
    server.add_service(background_service("cache purge subscribers", svc));
    if let Some(managed) = fleet {
        let svc = crate::fleet::agent::Agent::new(world.clone(), managed);
        server.add_service(background_service("fleet config", svc));
    }
    let svc = ControlSocket::new(p.control_sock.clone(), world.clone());
    server.add_service(background_service("control socket", svc));
    Ok((server, world))
}

/// Where a background process logs: `error_log` (stderr already points at it), else the
/// inherited stderr — except a
/// pipe, which would keep whoever started `-d` (a script reading its output) waiting until
/// the daemon exits: then nowhere, as nginx closes its standard streams.
fn daemon_error_log(app: &App, opts: RunOptions) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    if app.process.error_log.is_some() {
        return None; // stderr already points at it (`run`)
    }
    let stderr_is_pipe =
        std::fs::metadata("/proc/self/fd/2").is_ok_and(|m| m.file_type().is_fifo());
    (opts.daemon && stderr_is_pipe).then(|| {
        eprintln!(
            "edgeproxy: stderr is a pipe and [server] error_log is not set: \
             the background process logs nowhere"
        );
        "/dev/null".to_string()
    })
}

/// Builds and runs the server until it is told to stop; never returns. `registry` and
/// `source` (the file `app` was read from) serve reloads in place.
pub fn run(app: App, registry: Registry, source: Source, opts: RunOptions) -> ! {
    crate::logging::set_level(&app.process.log_level);
    // Until the signal watch runs, a SIGHUP (reload) or SIGUSR1 (reopen logs) sent right
    // after start must not kill the process (their default action): ignore them till then.
    // SAFETY: setting a signal disposition to SIG_IGN has no memory effects.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        libc::signal(libc::SIGUSR1, libc::SIG_IGN);
    }
    let p = app.process.clone();
    let (servers, path) = (app.servers.len(), app.path.clone());
    let built = bind(&app, opts).and_then(|bound| {
        let listen = bound.to_string();
        Ok((build_on(app, registry, source, bound, opts)?, listen))
    });
    let ((server, world), listen) = match built {
        Ok(built) => built,
        Err(e) => {
            eprintln!("edgeproxy: cannot start: {e}");
            std::process::exit(1);
        }
    };
    if let Some(path) = &p.error_log {
        if let Err(e) = crate::logging::redirect_stderr(path) {
            eprintln!("edgeproxy: cannot open error_log {}: {e}", path.display());
            std::process::exit(1);
        }
    }
    if opts.daemon {
        if let Err(e) = crate::logging::detach_stdout() {
            tracing::warn!("cannot point stdout at /dev/null: {e}");
        }
    }
    tracing::info!(config = %path.display(), servers, "edgeproxy starting");
    if !opts.daemon {
        // Pingora writes the pid file only when it daemonizes; `-s` needs it either way.
        if let Err(e) = std::fs::write(&p.pid_file, format!("{}\n", std::process::id())) {
            tracing::warn!(pid_file = %p.pid_file.display(), "cannot write the pid file: {e}");
        }
    }
    let signals = Signals {
        upgrade_sock: p.upgrade_sock.clone(),
        pid_file: p.pid_file.clone(),
        graceful_timeout: p.graceful_shutdown_timeout,
        error_log: p.error_log.clone(),
        world: Some(world),
        listen,
    };
    server.run(RunArgs {
        shutdown_signal: Box::new(signals),
    });
    signals::exit(&p.pid_file, 0)
}
