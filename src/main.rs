//! The `edgeproxy` command: nginx-style flags over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use edgeproxy::plugin_api::Registry;
use edgeproxy::server::{self, RunOptions};

#[path = "../plugins/mod.rs"]
mod plugins;

/// jemalloc: no page-protection syscalls per request and faster small allocations than
/// glibc's per-thread arenas on the request path (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A programmable edge proxy on Pingora.
#[derive(Parser, Debug)]
#[command(name = "edgeproxy", version, about)]
struct Cli {
    /// Configuration file.
    #[arg(short = 'c', long = "conf", default_value = "conf/edgeproxy.toml")]
    conf: PathBuf,
    /// Check the configuration (every error, as FILE:LINE:COL) and exit.
    #[arg(short = 't', long = "test")]
    test: bool,
    /// Take over the listeners of a running instance (graceful upgrade), then SIGQUIT the old one.
    #[arg(short = 'u', long = "upgrade")]
    upgrade: bool,
    /// Run in the background.
    #[arg(short = 'd', long = "daemon")]
    daemon: bool,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let mut registry = Registry::new();
    plugins::register(&mut registry);
    let config = match edgeproxy::assembly::load(&cli.conf, &registry, cli.test) {
        Ok(c) => c,
        Err(diags) => {
            eprintln!("{diags}");
            return ExitCode::from(1);
        }
    };
    if cli.test {
        println!(
            "{}: configuration is valid ({} server blocks, {} upstream groups)",
            cli.conf.display(),
            config.servers.len(),
            config.upstreams.len()
        );
        return ExitCode::SUCCESS;
    }
    server::run(
        config,
        RunOptions {
            upgrade: cli.upgrade,
            daemon: cli.daemon,
        },
    )
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDGEPROXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
