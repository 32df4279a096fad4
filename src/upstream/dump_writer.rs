//! Writes a Consul-fed group's dump file off the async runtime. The watcher applies a new
//! member set first and hands it over here; one background task per watcher writes it with
//! `spawn_blocking` (the write fsyncs), one write at a time, the newest set winning when
//! several arrived during a slow write. A slow or stuck disk therefore delays neither the
//! routing change nor the watcher's next read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::watch;

use super::dump;
use super::spec::ServerSpec;

/// The hand-over to one group's dump-writing task; the task ends (after writing the last
/// set handed over) when this is dropped.
pub(crate) struct DumpWriter {
    tx: watch::Sender<Option<Arc<Vec<ServerSpec>>>>,
}

impl DumpWriter {
    /// Spawns the writing task for `group`'s dump at `path` on the current runtime.
    pub(crate) fn spawn(group: String, path: PathBuf) -> Self {
        let (tx, mut rx) = watch::channel(None::<Arc<Vec<ServerSpec>>>);
        tokio::spawn(async move {
            while rx.changed().await.is_ok() {
                let Some(servers) = rx.borrow_and_update().clone() else {
                    continue;
                };
                write(&group, &path, servers).await;
            }
        });
        DumpWriter { tx }
    }

    /// Hands `servers` over to be written; never waits for the disk.
    pub(crate) fn write(&self, servers: Vec<ServerSpec>) {
        self.tx.send_replace(Some(Arc::new(servers)));
    }
}

/// Writes `servers` to `path` on a blocking thread, logging a failure (the file is only a
/// fallback for the next start: a failed write never affects routing).
pub(crate) async fn write(group: &str, path: &Path, servers: Arc<Vec<ServerSpec>>) {
    let (g, p) = (group.to_string(), path.to_path_buf());
    let done = tokio::task::spawn_blocking(move || dump::write_if_changed(&p, &g, &servers)).await;
    match done {
        Ok(Ok(_)) => {}
        Ok(Err(e)) => {
            tracing::warn!(group, file = %path.display(), "cannot write dump file: {e}")
        }
        Err(e) => {
            tracing::warn!(group, file = %path.display(), "dump file writer failed: {e}")
        }
    }
}
