//! `access-log`: log phase writing one line per request to a file or stdout: a JSON object
//! (default) or an nginx-style `log_format` (`combined`, `combined_ext`, or a template).
//!
//! ```toml
//! { name = "access-log", config = { path = "logs/access.log" } }   # or path = "-" for stdout
//! { name = "access-log", config = { path = "logs/access.log", format = "combined" } }
//! ```
//! Lines are handed to a writer thread (started on first use, so it survives daemonizing)
//! through a bounded queue that flushes whenever it has caught up; the request path never
//! waits on disk: when the disk is slower than the traffic, lines are dropped and counted
//! (`edgeproxy_access_log_dropped_total`). The file is reopened on SIGUSR1 (logrotate).
//! Reload in place: the writer (thread, queue, open file) is carried to the next generation
//! while the instance writes to the same target (key: the resolved path, or `-`); a
//! retired writer's thread ends once its queue's last sender is dropped.

mod format;

use std::io::Write;
use std::path::PathBuf;
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use edgeproxy::kit::async_trait;
use edgeproxy::kit::{BoxError, LogEntry, Plugin, PluginFactory, RequestCtx, Shared};
use once_cell::sync::Lazy;
use serde::Deserialize;
use serde_json::json;

pub use format::Format;

/// Lines queued for the writer at most; more are dropped and counted.
const QUEUE: usize = 65_536;

static DROPPED: Lazy<prometheus::IntCounter> = Lazy::new(|| {
    edgeproxy::kit::metrics::counter(
        "edgeproxy_access_log_dropped_total",
        "Access log lines dropped because the writer could not keep up",
    )
});

/// Config of the `access-log` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccessLogConfig {
    /// File to append to, relative to the config file; `-` for stdout.
    pub path: String,
    /// `json` (default), `combined`, `combined_ext`, or an nginx `log_format` template.
    #[serde(default)]
    pub format: Option<String>,
}

/// The `access-log` plugin.
pub struct AccessLog {
    /// Carried across reloads while the target is unchanged.
    writer: Arc<Writer>,
    format: Option<Format>,
}

/// The writer thread of one target, started by the first line (after daemonizing, never
/// under `-t`); the thread ends when this is dropped.
pub struct Writer {
    target: Option<PathBuf>,
    sender: OnceLock<Option<SyncSender<String>>>,
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
        let format = match cfg.format.as_deref() {
            None | Some("json") => None,
            Some(t) => Some(Format::parse(t)?),
        };
        Lazy::force(&DROPPED);
        let key = match &target {
            Some(path) => format!("file:{}", path.display()),
            None => "-".to_string(),
        };
        let writer = shared.carry(&key, || Writer {
            target,
            sender: OnceLock::new(),
        });
        Ok(Arc::new(AccessLog { writer, format }))
    }
}

impl AccessLog {
    fn send(&self, line: String) {
        let w = &self.writer;
        let tx = w.sender.get_or_init(|| spawn_writer(w.target.clone()));
        if let Some(tx) = tx {
            if let Err(TrySendError::Full(_)) = tx.try_send(line) {
                DROPPED.inc();
            }
        }
    }
}

fn open(target: &Option<PathBuf>) -> Option<Box<dyn Write + Send>> {
    match target {
        None => Some(Box::new(std::io::stdout())),
        Some(path) => match std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            Ok(f) => Some(Box::new(std::io::BufWriter::new(f))),
            Err(e) => {
                tracing::error!(path = %path.display(), "access-log: cannot open: {e}");
                None
            }
        },
    }
}

fn spawn_writer(target: Option<PathBuf>) -> Option<SyncSender<String>> {
    let out = open(&target)?;
    let (tx, rx) = sync_channel::<String>(QUEUE);
    let spawned = std::thread::Builder::new()
        .name("access-log".into())
        .spawn(move || write_lines(out, &target, &rx));
    spawned.ok().map(|_| tx)
}

/// The writer thread: appends lines as they come, flushing when caught up, and reopens the
/// file when SIGUSR1 asked for it.
fn write_lines(mut out: Box<dyn Write + Send>, target: &Option<PathBuf>, rx: &Receiver<String>) {
    let mut generation = edgeproxy::kit::reopen_generation();
    loop {
        let first = match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => return,
        };
        let now = edgeproxy::kit::reopen_generation();
        if now != generation && target.is_some() {
            generation = now;
            let _ = out.flush();
            if let Some(reopened) = open(target) {
                out = reopened;
            }
        }
        for line in first
            .into_iter()
            .chain(std::iter::from_fn(|| rx.try_recv().ok()))
        {
            let _ = out.write_all(line.as_bytes());
        }
        let _ = out.flush();
    }
}

#[async_trait]
impl Plugin for AccessLog {
    async fn log(&self, entry: &LogEntry<'_>, ctx: &RequestCtx) {
        if let Some(format) = &self.format {
            let mut line = String::with_capacity(256);
            format.render(entry, ctx, &mut line);
            line.push('\n');
            return self.send(line);
        }
        let mut line = json!({
            "time": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "request_id": ctx.request_id,
            "client": ctx.client_ip().map(|ip| ip.to_string()),
            "peer": ctx.peer_addr.map(|a| a.ip().to_string()),
            "method": entry.request.method.as_str(),
            "uri": entry.request.uri.to_string(),
            "status": entry.status,
            "bytes": entry.body_bytes,
            "duration_ms": entry.duration.as_secs_f64() * 1000.0,
            "upstream": ctx.upstream_addr.map(|a| a.to_string()),
            "server": &*ctx.server,
            "route": ctx.route.as_deref(),
            "upstream_group": ctx.upstream.as_deref(),
            "consumer": ctx.consumer(),
            "cache": ctx.cache_level.map(|l| l.as_str()),
            "grpc_status": ctx.grpc_status,
            "error": entry.error,
        })
        .to_string();
        line.push('\n');
        self.send(line);
    }
}
