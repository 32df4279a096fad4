//! A plugin instance's life across configuration generations (reload in place).
//!
//! Each `edgeproxy -s reload` builds every plugin anew from the new config, in the running
//! process; requests that started before keep the instances they started with, and an old
//! instance is dropped when the last of them ends. Two tools make that cheap and safe:
//!
//! - **State handed over** — [`Shared::carry`](super::Shared::carry): the value the same
//!   instance (same `id = "…"` in its plugin entry, else the same position: server block,
//!   route, index) kept under the same key in the previous generation, or a new one. Put
//!   the key's inputs in it (e.g. the config fields the state depends on): a changed key
//!   starts fresh.
//! - **Background work owned by the instance** — [`Background`]: a task aborted when the
//!   value is dropped. Keep it in the plugin (or in carried state): when a reload retires
//!   the instance (or its state), the task stops. A task must not hold the `Arc` of what
//!   owns its `Background` (hold a `Weak`), or it keeps its owner alive.

use std::sync::Arc;

use crate::generation::Carry;

/// What a plugin being built knows of its identity across generations, and the store of
/// the state the previous generation handed over. Set by the assembly for each instance.
#[derive(Clone)]
pub struct PluginCarry {
    pub(crate) store: Arc<Carry>,
    pub(crate) instance: Arc<str>,
    /// The fingerprint of the instance's config (keys and values, not formatting).
    pub(crate) config: Arc<str>,
}

impl Default for PluginCarry {
    /// A store of its own (unit tests, `-t`): nothing is handed over.
    fn default() -> Self {
        PluginCarry {
            store: Carry::first(),
            instance: Arc::from("test"),
            config: Arc::from(""),
        }
    }
}

impl PluginCarry {
    /// The same carry for the instance named `instance`, built from config `config`.
    pub(crate) fn for_instance(&self, instance: &str, config: String) -> PluginCarry {
        PluginCarry {
            store: self.store.clone(),
            instance: Arc::from(instance),
            config: Arc::from(config),
        }
    }

    /// The fingerprint of this instance's config: its keys and values, not their formatting.
    /// `shared.carry(shared.carry.config(), …)` hands state over while the config is
    /// unchanged.
    pub fn config(&self) -> &str {
        &self.config
    }

    /// See [`Shared::carry`](super::Shared::carry).
    pub(crate) fn get<T: Send + Sync + 'static>(
        &self,
        key: &str,
        init: impl FnOnce() -> T,
    ) -> Arc<T> {
        let identity = format!("plugin/{}", self.instance);
        self.store.get_or(&identity, key, || Arc::new(init()))
    }
}

/// A background task owned by whoever holds this value: aborted when it is dropped.
#[derive(Debug)]
pub struct Background(tokio::task::AbortHandle);

impl Background {
    /// Spawns `task` on the current tokio runtime; `None` outside one (e.g. while the
    /// config is assembled at start-up, before the server runs: start it lazily then).
    pub fn spawn<F>(task: F) -> Option<Background>
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let handle = tokio::runtime::Handle::try_current().ok()?;
        Some(Background(handle.spawn(task).abort_handle()))
    }

    /// Whether the task has ended.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        self.0.abort();
    }
}
