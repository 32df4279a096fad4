//! Configuration: TOML file → span-keeping reader (every error, with `FILE:LINE:COL`) →
//! typed model, with plugins built from their typed configs.
//!
//! `edgeproxy -t -c FILE` runs exactly [`load`] and prints the [`Diagnostics`].

mod caches;
mod diag;
mod health;
pub mod model;
mod reader;
mod servers;
mod upstreams;

pub use diag::{Diagnostic, Diagnostics};
pub use model::{Config, Limits, PathMatch, ProcessSettings, Route, ServerBlock};
pub use reader::parse_size;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use toml_edit::{ImDocument, Item};

use crate::cache::TieredCache;
use crate::plugin::{Registry, Shared};
use crate::upstream::{UpstreamGroup, Upstreams};
use reader::Tbl;

/// Reads, validates and builds the config at `path`; on failure returns every problem.
pub fn load(path: &Path, registry: &Registry, check_only: bool) -> Result<Config, Diagnostics> {
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            let mut d = Diagnostics::new(path, String::new());
            d.error(None, format!("cannot read config: {e}"));
            return Err(d);
        }
    };
    load_str(path, source, registry, check_only)
}

/// Like [`load`], from text already read (`path` is used for messages and relative paths).
pub fn load_str(
    path: &Path,
    source: String,
    registry: &Registry,
    check_only: bool,
) -> Result<Config, Diagnostics> {
    let mut d = Diagnostics::new(path, source.clone());
    let doc = match ImDocument::parse(source.as_str()) {
        Ok(doc) => doc,
        Err(e) => {
            d.error(e.span(), format!("TOML syntax: {}", e.message().trim()));
            return Err(d);
        }
    };
    let root = Item::Table(doc.as_table().clone());
    let Some(top) = Tbl::of(&mut d, &root, "the config file") else {
        return Err(d);
    };
    let process = read_process(&mut d, top.item("server"), path);
    let groups = upstreams::read_upstreams(&mut d, top.item("upstreams"));
    let upstreams: BTreeMap<String, Arc<UpstreamGroup>> = groups
        .into_iter()
        .map(|g| (g.name.clone(), Arc::new(UpstreamGroup::new(g))))
        .collect();
    let upstreams: Upstreams = Arc::new(upstreams);
    let caches: BTreeMap<String, TieredCache> =
        caches::read_caches(&mut d, top.item("caches"), &upstreams)
            .into_iter()
            .map(|(name, spec)| (name, TieredCache::new(spec)))
            .collect();
    let shared = Shared {
        config_dir: config_dir(path),
        upstreams,
        caches: Arc::new(caches),
        check_only,
    };
    let cx = servers::BuildCx {
        registry,
        shared: &shared,
        source: &source,
    };
    let servers = servers::read_servers(&mut d, top.item("servers"), &cx);
    top.finish(&mut d, "the config file");
    if !d.is_empty() {
        d.sort();
        return Err(d);
    }
    Ok(Config {
        path: path.to_path_buf(),
        process,
        servers,
        upstreams: shared.upstreams,
        caches: shared.caches,
    })
}

fn config_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn read_process(d: &mut Diagnostics, item: Option<&Item>, path: &Path) -> ProcessSettings {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("edgeproxy")
        .to_string();
    let mut p = ProcessSettings {
        threads: 1,
        work_stealing: false,
        grace_period: Duration::from_secs(5),
        graceful_shutdown_timeout: Duration::from_secs(10),
        pid_file: std::env::temp_dir().join(format!("{stem}.pid")),
        upgrade_sock: std::env::temp_dir().join(format!("{stem}_upgrade.sock")),
        error_log: None,
    };
    let Some(item) = item else { return p };
    let Some(t) = Tbl::of(d, item, "[server]") else {
        return p;
    };
    if let Some(n) = t.int(d, "threads", 1..=1024) {
        p.threads = n.value as usize;
    }
    p.work_stealing = t.bool(d, "work_stealing", p.work_stealing);
    if let Some(v) = t.duration(d, "grace_period") {
        p.grace_period = v;
    }
    if let Some(v) = t.duration(d, "graceful_shutdown_timeout") {
        p.graceful_shutdown_timeout = v;
    }
    if let Some(v) = t.opt_str(d, "pid_file") {
        p.pid_file = v.value.into();
    }
    if let Some(v) = t.opt_str(d, "upgrade_sock") {
        p.upgrade_sock = v.value.into();
    }
    p.error_log = t.opt_str(d, "error_log").map(|v| v.value.into());
    t.finish(d, "[server]");
    p
}
