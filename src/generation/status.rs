//! What the process runs, for `/status/config` (the `config-status` plugin) and the
//! `edgeproxy_config_generation` metric: the generation, when and from which file it was
//! loaded, which parts were carried over and which rebuilt, and the last refused reload.

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwapOption;
use serde::Serialize;

use super::Generation;

/// The status document of the configuration in force.
#[derive(Debug, Clone, Serialize)]
pub struct ConfigStatus {
    /// Generation number (1 at start, one more per reload in place).
    pub generation: u64,
    /// When it was installed (seconds since the Unix epoch).
    pub loaded_at_unix: u64,
    /// The config file.
    pub file: String,
    /// SipHash of the file's text, hex.
    pub file_hash: String,
    /// Parts carried over from the previous generation.
    pub kept: Vec<String>,
    /// Parts built new.
    pub built: Vec<String>,
    /// The last reload that was refused since this generation was installed, if any.
    pub last_refused: Option<Refused>,
    /// For a fleet-managed node: the fleet version it runs, when it applied it, and the
    /// last version it refused (docs/fleet.md).
    pub fleet: Option<crate::fleet::manifest::NodeStatus>,
}

/// A refused reload.
#[derive(Debug, Clone, Serialize)]
pub struct Refused {
    /// When (seconds since the Unix epoch).
    pub at_unix: u64,
    /// Why.
    pub error: String,
}

static STATUS: ArcSwapOption<ConfigStatus> = ArcSwapOption::const_empty();

/// The configuration in force, when a server runs in this process.
pub fn config_status() -> Option<Arc<ConfigStatus>> {
    let s = STATUS.load_full()?;
    match crate::fleet::node::status() {
        None => Some(s),
        Some(f) => {
            let mut s = (*s).clone();
            s.fleet = Some((*f).clone());
            Some(Arc::new(s))
        }
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Publishes `g` (installed from `file`) as the configuration in force.
pub(super) fn publish(g: &Generation, file: &Path) {
    super::reload::GENERATION.set(g.number as i64);
    STATUS.store(Some(Arc::new(ConfigStatus {
        generation: g.number,
        loaded_at_unix: unix(g.loaded_at),
        file: file.display().to_string(),
        file_hash: g.file_hash.clone(),
        kept: g.kept.clone(),
        built: g.built.clone(),
        last_refused: None,
        fleet: None,
    })));
}

/// Records a refused reload in the status document.
pub(super) fn refused(error: &str) {
    if let Some(s) = STATUS.load_full() {
        let mut s = (*s).clone();
        s.last_refused = Some(Refused {
            at_unix: unix(SystemTime::now()),
            error: error.to_string(),
        });
        STATUS.store(Some(Arc::new(s)));
    }
}
