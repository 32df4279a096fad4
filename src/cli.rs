//! The `edgeproxy` command line (nginx-style `-c -t -s -p -u -d -v -V`), as a library
//! function so that the `edgeproxy` binary and every embedding program share one
//! implementation.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     edgeproxy::cli::main(|registry| {
//!         // registry.register::<MyPlugin>();
//!         let _ = registry;
//!     })
//! }
//! ```

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use crate::assembly::{self, App};
use crate::config::{self, Diagnostics};
use crate::control::{self, Action};
use crate::generation::Source;
use crate::plugin_api::Registry;
use crate::server::{self, RunOptions};

/// A programmable edge proxy on Pingora.
#[derive(Parser, Debug)]
#[command(name = "edgeproxy", about, disable_version_flag = true)]
pub struct Cli {
    /// Configuration file.
    #[arg(short = 'c', long = "conf", default_value = "conf/edgeproxy.toml")]
    pub conf: PathBuf,
    /// Check the configuration (every error, as FILE:LINE:COL) and exit.
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// Send a command to the running instance (found through the config's pid_file):
    /// reload = check the config, start a new process, hand the listeners over;
    /// quit = graceful stop; stop = immediate stop.
    #[arg(short = 's', long = "signal", value_enum)]
    pub signal: Option<Action>,
    /// Directory that relative paths in the config resolve against (default: the config
    /// file's directory).
    #[arg(short = 'p', long = "prefix")]
    pub prefix: Option<PathBuf>,
    /// Take over the listeners of a running instance, which must then be sent SIGQUIT
    /// (`-s reload` does both, in the right order).
    #[arg(short = 'u', long = "upgrade")]
    pub upgrade: bool,
    /// Run in the background (returns once the listeners are up).
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
    /// Print the version and exit.
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    /// Print the version and build features, and exit.
    #[arg(short = 'V')]
    pub build_info: bool,
    /// A subcommand (`edgeproxy config push|status|diff|promote|rollback`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(clap::Subcommand, Debug)]
pub enum Command {
    /// The fleet's configuration in Consul KV (docs/fleet.md).
    #[command(subcommand)]
    Config(crate::fleet::ops::ConfigOp),
}

/// Parses the process arguments, sets up logging, registers plugins with `register`, then
/// checks (`-t`), controls (`-s`) or runs the config. Returns only when not running it.
pub fn main(register: impl FnOnce(&mut Registry)) -> ExitCode {
    let cli = Cli::parse();
    let mut registry = Registry::new();
    register(&mut registry);
    if cli.version || cli.build_info {
        println!("edgeproxy {}", env!("CARGO_PKG_VERSION"));
        if cli.build_info {
            println!("{}", build_info(&registry));
        }
        return ExitCode::SUCCESS;
    }
    crate::logging::init();
    run(cli, registry)
}

/// What this build contains (`edgeproxy -V`), derived from what is compiled in.
pub fn build_info(registry: &Registry) -> String {
    let profile = match cfg!(debug_assertions) {
        true => "debug",
        false => "optimized",
    };
    format!(
        "built on pingora 0.9 ({profile} build)\n\
         protocols: HTTP/1.0, HTTP/1.1, HTTP/2 (TLS ALPN h2, h2c prior knowledge), \
         WebSocket upgrades, gRPC, gRPC-Web, PROXY protocol v1/v2; upstreams: HTTP/1.1, \
         HTTP/2 (h2 over TLS, h2c), TLS; TCP/TLS streams (SNI routing)\n\
         TLS: {} (Pingora's openssl backend)\n\
         compression: gzip, br, zstd\n\
         tiered cache: moka L1, Redis (single, cluster); HTTP response cache (RFC 9111, \
         pingora-cache); upstreams: ketama (bounded loads), smooth WRR, Consul KV (upsync \
         format)\n\
         reload: in place (-s reload, SIGHUP); process hand-over (-s upgrade); fleet \
         configuration from Consul KV (edgeproxy config)\n\
         plugins: {}",
        openssl::version::version(),
        registry.names().join(", ")
    )
}

/// Runs parsed command-line options with the plugins of `registry`.
pub fn run(cli: Cli, registry: Registry) -> ExitCode {
    if let Some(Command::Config(op)) = cli.command {
        return crate::fleet::ops::run_cli(op, &registry);
    }
    // Absolute paths first: `-d` changes the working directory to `/`.
    let conf = absolute(&cli.conf);
    let prefix = cli.prefix.as_deref().map(absolute);
    let check_only = cli.test || cli.signal.is_some();
    let mut source = Source::file(conf.clone(), prefix.clone());
    let mut app = match load(&source, &registry, check_only) {
        Ok(app) => app,
        Err(diags) => {
            eprintln!("{diags}");
            return ExitCode::from(1);
        }
    };
    for w in &app.warnings {
        eprintln!("{w}");
    }
    if cli.test {
        println!(
            "{}: configuration is valid ({} server blocks, {} upstream groups)",
            conf.display(),
            app.servers.len(),
            app.upstreams.len()
        );
        return ExitCode::SUCCESS;
    }
    let fleet = app.process.config_source.clone();
    if let Some(action) = cli.signal {
        // A fleet node keeps its bootstrap file's pid file and sockets (found through
        // `app`) and runs its last applied version: a reload in place re-reads that
        // version; a new process (`-s upgrade`) starts from the bootstrap file and finds
        // its version itself.
        let mut target = (conf.clone(), prefix.clone());
        let store = fleet.map(|f| crate::fleet::store::Store::new(&f.state_dir));
        if let Some((_, dir)) = store.and_then(|s| s.current()) {
            if action == Action::Reload {
                target = (crate::fleet::store::Store::main_file(&dir), Some(dir));
            }
        }
        return match control::run(action, &app, &target.0, target.1.as_deref()) {
            Ok(done) => {
                println!("{done}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("edgeproxy: {e}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(spec) = fleet {
        let local = app.process.clone();
        match crate::fleet::ops::start(*spec, local, &source, |s| load(s, &registry, false)) {
            Ok((started, a)) => (source, app) = (started, a),
            Err(e) => {
                eprintln!("edgeproxy: {e}");
                return ExitCode::from(1);
            }
        }
    }
    server::run(
        app,
        registry,
        source,
        RunOptions {
            upgrade: cli.upgrade,
            daemon: cli.daemon,
        },
    )
}

fn load(source: &Source, registry: &Registry, check_only: bool) -> Result<App, Diagnostics> {
    let mut spec = config::read(&source.conf)?;
    source.adjust(&mut spec);
    assembly::assemble(spec, registry, check_only)
}

/// `path` made absolute against the current directory (not resolving symlinks).
fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}
