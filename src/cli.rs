//! The `edgeproxy` command line (nginx-style `-c -t -u -d`), as a library function so that
//! the `edgeproxy` binary and every embedding program share one implementation.
//!
//! ```no_run
//! fn main() -> std::process::ExitCode {
//!     edgeproxy::cli::main(|registry| {
//!         // registry.register::<MyPlugin>();
//!         let _ = registry;
//!     })
//! }
//! ```

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::assembly;
use crate::plugin_api::Registry;
use crate::server::{self, RunOptions};

/// A programmable edge proxy on Pingora.
#[derive(Parser, Debug)]
#[command(name = "edgeproxy", version, about)]
pub struct Cli {
    /// Configuration file.
    #[arg(short = 'c', long = "conf", default_value = "conf/edgeproxy.toml")]
    pub conf: PathBuf,
    /// Check the configuration (every error, as FILE:LINE:COL) and exit.
    #[arg(short = 't', long = "test")]
    pub test: bool,
    /// Take over the listeners of a running instance (graceful upgrade), then SIGQUIT the old one.
    #[arg(short = 'u', long = "upgrade")]
    pub upgrade: bool,
    /// Run in the background.
    #[arg(short = 'd', long = "daemon")]
    pub daemon: bool,
}

/// Parses the process arguments, sets up logging, registers plugins with `register`, then
/// checks (`-t`) or runs the config. Returns only for `-t`, `--help` and config errors.
pub fn main(register: impl FnOnce(&mut Registry)) -> ExitCode {
    let cli = Cli::parse();
    crate::logging::init();
    let mut registry = Registry::new();
    register(&mut registry);
    run(cli, &registry)
}

/// Runs parsed command-line options with the plugins of `registry`.
pub fn run(cli: Cli, registry: &Registry) -> ExitCode {
    let app = match assembly::load(&cli.conf, registry, cli.test) {
        Ok(app) => app,
        Err(diags) => {
            eprintln!("{diags}");
            return ExitCode::from(1);
        }
    };
    if cli.test {
        println!(
            "{}: configuration is valid ({} server blocks, {} upstream groups)",
            cli.conf.display(),
            app.servers.len(),
            app.upstreams.len()
        );
        return ExitCode::SUCCESS;
    }
    server::run(
        app,
        RunOptions {
            upgrade: cli.upgrade,
            daemon: cli.daemon,
        },
    )
}
