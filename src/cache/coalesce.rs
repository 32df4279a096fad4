//! Single-flight: concurrent loads of one key on one node share one execution and its
//! result, errors included.
//!
//! Why not moka's `try_get_with`: it returns an entry already present, and our L1 keeps
//! expired entries (for stale-if-error) that must trigger a reload; moka's `and_compute_with`
//! serializes callers instead of sharing a failure, so a dead origin would be hit once per
//! waiter. Like moka, the first caller drives the load itself (no spawned task, so the load
//! may borrow the caller's loader); if it is cancelled, a waiting caller takes over.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

/// In-flight loads by key.
pub struct SingleFlight<T> {
    inflight: Mutex<HashMap<String, Arc<OnceCell<T>>>>,
}

impl<T: Clone> SingleFlight<T> {
    /// No load in flight.
    pub fn new() -> Self {
        SingleFlight {
            inflight: Mutex::new(HashMap::new()),
        }
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<OnceCell<T>>>> {
        self.inflight.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `load` for `key` unless a load of `key` is already running, in which case its
    /// result is awaited and returned instead.
    pub async fn run<F, Fut>(&self, key: &str, load: F) -> T
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = T>,
    {
        let cell = self
            .map()
            .entry(key.to_string())
            .or_insert_with(|| Arc::new(OnceCell::new()))
            .clone();
        let value = cell.get_or_init(load).await.clone();
        let mut map = self.map();
        if map.get(key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            map.remove(key);
        }
        value
    }
}

impl<T: Clone> Default for SingleFlight<T> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn concurrent_runs_share_one_load() {
        let sf = Arc::new(SingleFlight::<u32>::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let (sf, runs, gate) = (sf.clone(), runs.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                sf.run("k", || async {
                    runs.fetch_add(1, Ordering::SeqCst);
                    gate.notified().await;
                    7
                })
                .await
            }));
        }
        while sf.map().get("k").map_or(0, Arc::strong_count) < 51 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert!(sf.map().is_empty());
    }
}
