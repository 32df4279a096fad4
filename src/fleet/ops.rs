//! `edgeproxy config …` (the operator's side) and the start of a fleet node.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use super::agent::{plan_start, version_problem, Managed};
use super::kv::Kv;
use super::manifest::Refused;
use super::node::Node;
use super::FleetSpec;
use crate::assembly::App;
use crate::config::Diagnostics;
use crate::generation::Source;
use crate::plugin_api::Registry;
use crate::upstream::ConsulSpec;

/// `edgeproxy config …`: the fleet's configuration in Consul KV.
#[derive(clap::Subcommand, Debug)]
pub enum ConfigOp {
    /// Check a configuration (a directory with edgeproxy.toml and the files it uses, or one
    /// file) as `-t` does, then publish it as the next version, atomically, refused if
    /// somebody published meanwhile.
    Push {
        /// Directory (edgeproxy.toml + templates, lists, …) or a single config file.
        path: PathBuf,
        /// Publish to these nodes only (names or tags) until `config promote`.
        #[arg(long, value_delimiter = ',')]
        canary: Vec<String>,
        /// A note kept with the version.
        #[arg(long, default_value = "")]
        note: String,
        /// With --canary: once every canary node applied the version, watch their 5xx share
        /// this long (e.g. 60s), then promote, or withdraw the canary if it rose.
        #[arg(long, value_parser = humantime::parse_duration, requires = "canary")]
        promote_after: Option<std::time::Duration>,
        /// How much the canary's 5xx share may rise (in percentage points) and still pass.
        #[arg(long, default_value_t = 0.5)]
        max_5xx_rise: f64,
        /// Consul settings.
        #[command(flatten)]
        kv: KvArgs,
    },
    /// Make the canary version the current one for every node.
    Promote {
        /// Consul settings.
        #[command(flatten)]
        kv: KvArgs,
    },
    /// Publish the version that was current before the current one again (as a new version).
    Rollback {
        /// Consul settings.
        #[command(flatten)]
        kv: KvArgs,
    },
    /// Show what pushing PATH would change against the current version.
    Diff {
        /// Directory or config file, as for push.
        path: PathBuf,
        /// Consul settings.
        #[command(flatten)]
        kv: KvArgs,
    },
    /// Every node's version, result and error, in one table.
    Status {
        /// Consul settings.
        #[command(flatten)]
        kv: KvArgs,
    },
}

/// Where the fleet's KV is.
#[derive(clap::Args, Debug, Clone)]
pub struct KvArgs {
    /// Consul HTTP address.
    #[arg(long, default_value = "http://127.0.0.1:8500")]
    pub consul: String,
    /// The fleet's KV folder (a node's `config_source.consul.prefix`).
    #[arg(long, default_value = "edgeproxy/fleet")]
    pub prefix: String,
    /// Environment variable holding the ACL token.
    #[arg(long)]
    pub token_env: Option<String>,
    /// Consul datacenter.
    #[arg(long)]
    pub dc: Option<String>,
}

impl KvArgs {
    fn client(&self) -> Result<Kv, String> {
        let token =
            match &self.token_env {
                None => None,
                Some(env) => Some(std::env::var(env).map_err(|_| {
                    format!("environment variable `{env}` (consul token) is not set")
                })?),
            };
        let spec = FleetSpec {
            consul: ConsulSpec {
                address: self.consul.clone(),
                prefix: self.prefix.clone(),
                token,
                ..ConsulSpec::default()
            },
            dc: self.dc.clone(),
            state_dir: PathBuf::new(),
            tags: Vec::new(),
            node: String::new(),
        };
        Kv::new(&spec).map_err(|e| e.to_string())
    }
}

/// Runs one `config` subcommand; prints its answer (stdout) or error (stderr).
pub fn run_cli(op: ConfigOp, registry: &Registry) -> ExitCode {
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))
        .and_then(|rt| {
            rt.block_on(async {
                match op {
                    ConfigOp::Push {
                        path,
                        canary,
                        note,
                        promote_after,
                        max_5xx_rise,
                        kv,
                    } => {
                        let kv = kv.client()?;
                        let (version, said) =
                            super::publish::push(&kv, &path, canary.clone(), note, registry)
                                .await?;
                        match promote_after {
                            None => Ok(said),
                            Some(window) => {
                                print!("{said}");
                                let tolerance = max_5xx_rise / 100.0;
                                super::canary::judge(&kv, version, &canary, window, tolerance).await
                            }
                        }
                    }
                    ConfigOp::Promote { kv } => super::publish::promote(&kv.client()?).await,
                    ConfigOp::Rollback { kv } => super::publish::rollback(&kv.client()?).await,
                    ConfigOp::Diff { path, kv } => super::inspect::diff(&kv.client()?, &path).await,
                    ConfigOp::Status { kv } => super::inspect::status(&kv.client()?).await,
                }
            })
        });
    match result {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("edgeproxy: {e}");
            ExitCode::from(1)
        }
    }
}

/// Starts a fleet node: the first of [`plan_start`]'s candidates that `load` assembles
/// (a version that fails is reported as refused), with the fleet attached to its source.
pub fn start(
    spec: FleetSpec,
    local: crate::config::ProcessSettings,
    bootstrap: &Source,
    load: impl Fn(&Source) -> Result<App, Diagnostics>,
) -> Result<(Source, App), String> {
    let node = Node::new(spec).map_err(|e| e.to_string())?;
    let store = node.store.clone();
    let candidates = plan_start(&node, bootstrap)?;
    let managed = Arc::new(Managed::new(node, local, 0, None));
    let mut refused = None;
    for c in candidates {
        let mut source = c.source;
        source.fleet = Some(managed.clone());
        let loaded = match (c.version, version_problem(&source)) {
            (v, Some(problem)) if v > 0 => Err(problem),
            _ => load(&source).map_err(|d| d.to_string()),
        };
        match loaded {
            Ok(app) => {
                if c.version > 0 {
                    if let Err(e) = store.set_current(c.version) {
                        tracing::warn!("fleet: cannot record version {}: {e}", c.version);
                    }
                }
                tracing::info!(
                    version = c.version,
                    "fleet: starting on configuration version"
                );
                managed.set_state(c.version, refused);
                return Ok((source, app));
            }
            Err(error) if c.version > 0 => {
                eprintln!(
                    "edgeproxy: fleet version {} refused on this node: {error}",
                    c.version
                );
                refused.get_or_insert(Refused {
                    version: c.version,
                    error,
                });
            }
            Err(error) => return Err(error),
        }
    }
    Err("no configuration to start from".to_string())
}
