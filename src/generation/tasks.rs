//! Background tasks that follow the configuration generation: one task per part (keyed by
//! the part's identity, e.g. its `Arc` address), started when a generation first holds the
//! part and aborted when a generation without it is installed. Kept parts keep their
//! running task: a reload does not restart a Consul watch or a hot-key tick.

use std::collections::HashMap;
use std::future::Future;

use once_cell::sync::Lazy;
use prometheus::{IntGauge, IntGaugeVec};
use tokio::task::JoinHandle;

/// Running background tasks of the parts, by kind (`edgeproxy_part_tasks{kind}`): flat over
/// any number of reloads when nothing leaks.
static PART_TASKS: Lazy<IntGaugeVec> = Lazy::new(|| {
    crate::metrics::gauge_vec(
        "edgeproxy_part_tasks",
        "Background tasks run for the parts of the configuration in force, by kind",
        &["kind"],
    )
});

/// The running tasks of one kind, by part.
pub struct TaskSet {
    running: HashMap<usize, JoinHandle<()>>,
    gauge: IntGauge,
}

impl TaskSet {
    /// An empty set of tasks of `kind` (`consul_watch`, `health_check`, `hot_tick`).
    pub fn new(kind: &str) -> Self {
        TaskSet {
            running: HashMap::new(),
            gauge: PART_TASKS.with_label_values(&[kind]),
        }
    }

    /// Makes the running tasks those of `wanted` (part id, task to start if not running):
    /// starts the missing ones, aborts those whose part is gone (or whose task ended, so a
    /// part that comes back gets a new one).
    pub fn sync<F, I>(&mut self, wanted: I)
    where
        I: IntoIterator<Item = (usize, Option<F>)>,
        F: Future<Output = ()> + Send + 'static,
    {
        let mut keep = HashMap::with_capacity(self.running.len());
        for (id, task) in wanted {
            match self.running.remove(&id) {
                Some(h) if !h.is_finished() => {
                    keep.insert(id, h);
                }
                _ => {
                    if let Some(task) = task {
                        keep.insert(id, tokio::spawn(task));
                    }
                }
            }
        }
        for (_, h) in self.running.drain() {
            h.abort();
        }
        self.running = keep;
        self.gauge.set(self.running.len() as i64);
    }

    /// How many tasks run.
    pub fn len(&self) -> usize {
        self.running.len()
    }

    /// Whether none runs.
    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }
}

impl Drop for TaskSet {
    fn drop(&mut self) {
        for (_, h) in self.running.drain() {
            h.abort();
        }
        self.gauge.set(0);
    }
}

/// A part's identity for a [`TaskSet`]: the address of what its `Arc` points at.
pub fn id_of<T: ?Sized>(part: &std::sync::Arc<T>) -> usize {
    std::sync::Arc::as_ptr(part) as *const () as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test]
    async fn kept_parts_keep_their_task_and_gone_ones_stop() {
        let started = Arc::new(AtomicUsize::new(0));
        let task = |s: Arc<AtomicUsize>| async move {
            s.fetch_add(1, Ordering::SeqCst);
            std::future::pending::<()>().await
        };
        let mut set = TaskSet::new("test");
        set.sync([
            (1, Some(task(started.clone()))),
            (2, Some(task(started.clone()))),
        ]);
        tokio::task::yield_now().await;
        assert_eq!(started.load(Ordering::SeqCst), 2);
        set.sync([
            (1, Some(task(started.clone()))),
            (3, Some(task(started.clone()))),
        ]);
        tokio::task::yield_now().await;
        assert_eq!(
            started.load(Ordering::SeqCst),
            3,
            "part 1 kept its task, 3 is new"
        );
        assert_eq!(set.len(), 2);
        set.sync(std::iter::empty::<(usize, Option<std::future::Ready<()>>)>());
        assert!(set.is_empty());
    }
}
