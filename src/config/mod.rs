//! Configuration: TOML file → span-keeping reader (every error, with `FILE:LINE:COL`) →
//! plain typed specs ([`ConfigSpec`]). Nothing here builds or starts anything: the
//! assembly step ([`crate::assembly`]) turns specs into the running system, and
//! `edgeproxy -t -c FILE` runs both without opening sockets.

mod caches;
mod diag;
mod edge;
mod fleet;
mod health;
mod hot;
mod listen;
pub mod model;
mod protocol;
mod reader;
mod route_cache;
mod servers;
mod streams;
mod upstreams;

pub use diag::{closest, Diagnostic, Diagnostics};
pub use listen::ListenSpec;
pub use model::{
    CacheConfig, ConfigSpec, Limits, PluginSpec, ProcessSettings, RouteSpec, ServerBlockSpec,
};
pub use reader::parse_size;
pub use streams::{ProxyVersion, StreamHash, StreamSpec};

use std::path::Path;

use toml_edit::{ImDocument, Item};

use reader::Tbl;

/// Reads and validates the config at `path`; on failure returns every problem.
pub fn read(path: &Path) -> Result<ConfigSpec, Diagnostics> {
    let source = match std::fs::read_to_string(path) {
        Ok(s) => s,
        Err(e) => {
            let mut d = Diagnostics::new(path, String::new());
            d.error(None, format!("cannot read config: {e}"));
            return Err(d);
        }
    };
    read_str(path, source)
}

/// Like [`read`], from text already read (`path` is used for messages).
pub fn read_str(path: &Path, source: String) -> Result<ConfigSpec, Diagnostics> {
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
    // Cache names only, for references from `[upstreams.NAME.hot]`; `caches` is read below.
    let cache_names: Vec<&str> = root
        .get("caches")
        .and_then(|c| c.as_table_like())
        .map(|t| t.iter().map(|(k, _)| k).collect())
        .unwrap_or_default();
    let upstreams = upstreams::read_upstreams(&mut d, top.item("upstreams"), &cache_names);
    let names: Vec<&str> = upstreams.iter().map(|g| g.name.as_str()).collect();
    let caches = caches::read_caches(&mut d, top.item("caches"), &names);
    let has_streams = top.item("streams").is_some();
    let servers = servers::read_servers(
        &mut d,
        top.item("servers"),
        &names,
        &cache_names,
        has_streams,
    );
    let streams = streams::read_streams(&mut d, top.item("streams"), &names);
    top.finish(&mut d, "the config file");
    if !d.is_empty() {
        d.sort();
        return Err(d);
    }
    Ok(ConfigSpec {
        path: path.to_path_buf(),
        base_dir: dir_of(path),
        source,
        process,
        servers,
        streams,
        upstreams,
        caches,
    })
}

/// The directory of `path` (`.` for a bare file name).
fn dir_of(path: &Path) -> std::path::PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    }
}

fn read_process(d: &mut Diagnostics, item: Option<&Item>, path: &Path) -> ProcessSettings {
    let mut p = ProcessSettings::defaults_for(path);
    let Some(item) = item else { return p };
    let Some(t) = Tbl::of(d, item, "[server]") else {
        return p;
    };
    if let Some(n) = t.int(d, "threads", 1..=1024) {
        p.threads = n.value as usize;
    }
    p.work_stealing = t.bool(d, "work_stealing", p.work_stealing);
    p.direct_answers = t.bool(d, "direct_answers", p.direct_answers);
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
    if let Some(v) = t.opt_str(d, "control_sock") {
        p.control_sock = v.value.into();
    }
    p.error_log = t.opt_str(d, "error_log").map(|v| v.value.into());
    if let Some(n) = t.opt_str(d, "node_name") {
        match n.value.is_empty() || n.value.chars().any(|c| c.is_control() || c == ' ') {
            true => d.push(
                n.span,
                format!("invalid node_name {:?}", n.value),
                Some("a non-empty name without spaces, e.g. \"dist-1\""),
            ),
            false => p.node_name = n.value,
        }
    }
    if let Some(item) = t.item("config_source") {
        p.config_source = fleet::read_config_source(d, item, &p.node_name).map(Box::new);
    }
    if let Some(level) = t.opt_str(d, "log_level") {
        match tracing_subscriber::EnvFilter::try_new(&level.value) {
            Ok(_) => p.log_level = level.value,
            Err(e) => d.push(
                level.span,
                format!("invalid log_level {:?}: {e}", level.value),
                Some("e.g. \"info\", \"warn\", \"edgeproxy=debug,pingora=warn\""),
            ),
        }
    }
    t.finish(d, "[server]");
    p
}
