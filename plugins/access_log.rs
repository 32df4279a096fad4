//! `access-log`: log phase writing one JSON line per request to a file or stdout.
//!
//! ```toml
//! { name = "access-log", config = { path = "logs/access.log" } }   # or path = "-" for stdout
//! ```
//! Lines are handed to a writer thread (started on first use, so it survives daemonizing)
//! that flushes whenever it has caught up; the request path never waits on disk.

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{channel, Sender};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use edgeproxy::async_trait;
use edgeproxy::plugin_api::{BoxError, LogEntry, Plugin, PluginFactory, RequestCtx, Shared};
use serde::Deserialize;
use serde_json::json;

/// Config of the `access-log` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// File to append to, relative to the config file; `-` for stdout.
    pub path: String,
}

/// The `access-log` plugin.
pub struct AccessLog {
    target: Option<PathBuf>,
    sender: OnceLock<Option<Sender<String>>>,
}

impl PluginFactory for AccessLog {
    const NAME: &'static str = "access-log";
    type Config = AccessLogConfig;

    fn build(cfg: AccessLogConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let target = if cfg.path == "-" {
            None
        } else {
            let path = shared.resolve_path(&cfg.path);
            if let Some(dir) = path.parent() {
                if !dir.as_os_str().is_empty() && !dir.is_dir() {
                    return Err(format!("directory {} does not exist", dir.display()).into());
                }
            }
            Some(path)
        };
        Ok(Arc::new(AccessLog {
            target,
            sender: OnceLock::new(),
        }))
    }
}

impl AccessLog {
    fn send(&self, line: String) {
        let tx = self
            .sender
            .get_or_init(|| spawn_writer(self.target.clone()));
        if let Some(tx) = tx {
            let _ = tx.send(line);
        }
    }
}

fn spawn_writer(target: Option<PathBuf>) -> Option<Sender<String>> {
    let mut out: Box<dyn Write + Send> = match &target {
        None => Box::new(std::io::stdout()),
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Box::new(std::io::BufWriter::new(f)),
            Err(e) => {
                tracing::error!(path = %path.display(), "access-log: cannot open: {e}");
                return None;
            }
        },
    };
    let (tx, rx) = channel::<String>();
    let spawned = std::thread::Builder::new()
        .name("access-log".into())
        .spawn(move || {
            while let Ok(line) = rx.recv() {
                let _ = out.write_all(line.as_bytes());
                while let Ok(more) = rx.try_recv() {
                    let _ = out.write_all(more.as_bytes());
                }
                let _ = out.flush();
            }
        });
    spawned.ok().map(|_| tx)
}

#[async_trait]
impl Plugin for AccessLog {
    async fn log(&self, entry: &LogEntry<'_>, ctx: &RequestCtx) {
        let mut line = json!({
            "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "request_id": ctx.request_id,
            "client": ctx.client_addr.map(|a| a.ip().to_string()),
            "method": entry.request.method.as_str(),
            "uri": entry.request.uri.to_string(),
            "status": entry.status,
            "bytes": entry.body_bytes,
            "duration_ms": entry.duration.as_secs_f64() * 1000.0,
            "upstream": ctx.upstream_addr.map(|a| a.to_string()),
            "server": &*ctx.server,
            "route": ctx.route.as_deref(),
            "cache": ctx.cache_level.map(|l| l.as_str()),
            "error": entry.error,
        })
        .to_string();
        line.push('\n');
        self.send(line);
    }
}
