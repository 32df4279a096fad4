//! The control socket: `edgeproxy -s reload` asks the running process to reload in place
//! and waits for the answer. A Unix socket (mode 0600: only the user the server runs as,
//! or root, may reload it) at `[server] control_sock`; one JSON line each way:
//! `{"action":"reload","conf":"/abs/file","prefix":null}` →
//! `{"ok":true,"generation":7,"kept":[…],"built":[…],"warnings":[…],"took_ms":3}` or
//! `{"ok":false,"error":"…"}`. The answer is written once the new generation is installed,
//! so every request that starts after the command returns runs on it.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::generation::{Source, World};

/// A request on the control socket.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// `reload`.
    pub action: String,
    /// The config file to reload from (absolute); the running one's when absent.
    pub conf: Option<PathBuf>,
    /// The `-p` prefix.
    pub prefix: Option<PathBuf>,
}

/// The answer to a request.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Answer {
    /// Whether the new configuration is in force.
    pub ok: bool,
    /// Why not.
    pub error: Option<String>,
    /// The generation in force.
    pub generation: u64,
    /// Parts carried over.
    pub kept: Vec<String>,
    /// Parts built new.
    pub built: Vec<String>,
    /// Warnings of the new config.
    pub warnings: Vec<String>,
    /// How long the reload took.
    pub took_ms: u64,
}

/// Longest request line taken.
const MAX_LINE: u64 = 64 * 1024;

/// The background service answering the control socket.
pub struct ControlSocket {
    path: PathBuf,
    world: World,
    /// Bound when the server is built, so that `-s reload` reaches a process as soon as it
    /// says it runs (the service starts it accepting).
    bound: std::sync::Mutex<Option<std::io::Result<std::os::unix::net::UnixListener>>>,
}

impl ControlSocket {
    /// A control socket at `path` reloading `world`, bound now (mode 0600). A socket left
    /// by a process that is gone (or by the one a `-s upgrade` takes over from, which
    /// answers no more once it hands its listeners over) is replaced.
    pub fn new(path: PathBuf, world: World) -> Self {
        let _ = std::fs::remove_file(&path);
        let bound = std::os::unix::net::UnixListener::bind(&path).and_then(|l| {
            l.set_nonblocking(true)?;
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
            Ok(l)
        });
        ControlSocket {
            path,
            world,
            bound: std::sync::Mutex::new(Some(bound)),
        }
    }
}

#[async_trait]
impl BackgroundService for ControlSocket {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let bound = match self.bound.lock() {
            Ok(mut b) => b.take(),
            Err(p) => p.into_inner().take(),
        };
        let listener = match bound.map(|b| b.and_then(UnixListener::from_std)) {
            Some(Ok(l)) => l,
            Some(Err(e)) => {
                tracing::error!(
                    control_sock = %self.path.display(),
                    "cannot listen on the control socket, `-s reload` will not reach this \
                     process (SIGHUP still reloads): {e}"
                );
                return;
            }
            None => return,
        };
        let inode = inode(&self.path);
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                conn = listener.accept() => match conn {
                    Ok((stream, _)) => {
                        let world = self.world.clone();
                        tokio::spawn(serve(stream, world));
                    }
                    Err(e) => {
                        tracing::warn!("control socket: accept failed: {e}");
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    }
                },
            }
        }
        // Remove it only if it is still ours (a new process may have bound its own).
        if inode.is_some() && inode == self::inode(&self.path) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn inode(path: &std::path::Path) -> Option<u64> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| m.ino())
}

async fn serve(stream: UnixStream, world: World) {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(MAX_LINE));
    let answer = match reader.read_line(&mut line).await {
        Err(e) => Answer {
            error: Some(format!("cannot read the request: {e}")),
            ..Answer::default()
        },
        Ok(_) => match serde_json::from_str::<Request>(line.trim()) {
            Ok(r) if r.action == "reload" => {
                let source = r.conf.map(|conf| Source {
                    conf,
                    prefix: r.prefix,
                    fleet: world.source().fleet,
                });
                match world.reload(source).await {
                    Ok(done) => Answer {
                        ok: true,
                        error: None,
                        generation: done.generation,
                        kept: done.kept,
                        built: done.built,
                        warnings: done.warnings,
                        took_ms: done.took.as_millis() as u64,
                    },
                    Err(e) => Answer {
                        error: Some(e.to_string()),
                        generation: world.current().number,
                        ..Answer::default()
                    },
                }
            }
            Ok(r) => Answer {
                error: Some(format!("unknown action {:?}", r.action)),
                ..Answer::default()
            },
            Err(e) => Answer {
                error: Some(format!("bad request: {e}")),
                ..Answer::default()
            },
        },
    };
    let mut text = serde_json::to_string(&answer).unwrap_or_else(|_| "{}".into());
    text.push('\n');
    let _ = write.write_all(text.as_bytes()).await;
}
