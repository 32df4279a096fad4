//! Plugin factories and the explicit registry that maps config names to them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::de::{Deserialize, DeserializeOwned, IntoDeserializer};

use super::{BoxError, Plugin};
use crate::upstream::Upstreams;

pub use crate::cache::Caches;

/// Long-lived handles a plugin may keep: config location, upstream groups, and
/// shared resources other plugins registered.
#[derive(Clone)]
pub struct Shared {
    /// Directory of the main config file; relative paths in plugin configs resolve here.
    pub config_dir: PathBuf,
    /// All upstream groups, by name.
    pub upstreams: Upstreams,
    /// All tiered cache engines (`[caches.NAME]`), by name.
    pub caches: Caches,
    /// True under `edgeproxy -t`: build and check, but start nothing.
    pub check_only: bool,
    /// This process's name among its peers (`[server] node_name`).
    pub node_name: Arc<str>,
    /// Hot-key machinery of the groups with a `hot` table, by group name.
    pub hot: crate::hot::HotGroups,
    /// This plugin instance's identity across reloads and the state handed over to it
    /// (use [`Shared::carry`]).
    pub carry: super::PluginCarry,
    /// Set when [`Shared::upstream_ref`] is called: the plugin being built may send
    /// requests to an upstream, so its routes are never answered without the proxy
    /// (`crate::proxy::direct`). The builder gives each plugin a fresh one.
    pub chose_upstream: Arc<std::sync::atomic::AtomicBool>,
}

/// An upstream group a plugin may send requests to ([`RequestCtx::set_upstream`]), checked
/// to exist when the plugin was built ([`Shared::upstream_ref`]): choosing it can never fail
/// at run time.
///
/// [`RequestCtx::set_upstream`]: super::RequestCtx::set_upstream
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamRef(pub(crate) Arc<str>);

impl UpstreamRef {
    /// The group's name.
    pub fn name(&self) -> &str {
        &self.0
    }
}

/// A plugin named an upstream group the config does not define.
#[derive(Debug, thiserror::Error)]
#[error("undefined upstream `{0}`; define [upstreams.{0}]")]
pub struct UnknownUpstream(pub String);

impl Shared {
    /// A checked handle on upstream group `name`, for [`RequestCtx::set_upstream`]; an
    /// error (the plugin's build error) when the config has no such group.
    ///
    /// [`RequestCtx::set_upstream`]: super::RequestCtx::set_upstream
    pub fn upstream_ref(&self, name: &str) -> Result<UpstreamRef, UnknownUpstream> {
        self.chose_upstream
            .store(true, std::sync::atomic::Ordering::Relaxed);
        match self.upstreams.get_key_value(name) {
            Some((n, _)) => Ok(UpstreamRef(Arc::from(n.as_str()))),
            None => Err(UnknownUpstream(name.to_string())),
        }
    }

    /// State handed over from the previous configuration generation's instance of this
    /// plugin (the same `id`, else the same position), kept there under the same `key` and
    /// type; else `init()`'s. The value is then offered to the next generation in turn.
    /// Under `-t` and in unit tests nothing is handed over. See [`super::lifecycle`].
    ///
    /// ```ignore
    /// // a counter that survives reloads while the plugin's `window` is unchanged
    /// let hits = shared.carry(&format!("window={}", cfg.window), || AtomicU64::new(0));
    /// ```
    pub fn carry<T: Send + Sync + 'static>(&self, key: &str, init: impl FnOnce() -> T) -> Arc<T> {
        self.carry.get(key, init)
    }

    /// Resolves a path from a plugin config against the config directory.
    pub fn resolve_path(&self, path: &str) -> PathBuf {
        let p = PathBuf::from(path);
        if p.is_absolute() {
            p
        } else {
            self.config_dir.join(p)
        }
    }
}

/// Builds one kind of plugin from its typed config table.
///
/// ```ignore
/// struct Hello;
/// #[derive(serde::Deserialize)]
/// #[serde(deny_unknown_fields)]
/// struct HelloConfig { greeting: String }
/// impl PluginFactory for Hello {
///     const NAME: &'static str = "hello";
///     type Config = HelloConfig;
///     fn build(cfg: HelloConfig, _: &Shared) -> Result<Arc<dyn Plugin>, BoxError> { ... }
/// }
/// ```
pub trait PluginFactory: 'static {
    /// The name used in config files (`{ name = "…", config = { … } }`).
    const NAME: &'static str;
    /// The plugin's typed config; use `#[serde(deny_unknown_fields)]`.
    type Config: DeserializeOwned;
    /// Builds a plugin instance. Must not open sockets (it also runs under `-t`).
    fn build(cfg: Self::Config, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError>;
}

/// Why a plugin could not be built from its config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// No plugin of that name is registered.
    #[error("unknown plugin `{name}`")]
    Unknown {
        /// The name that was asked for.
        name: String,
        /// Registered names, for the hint.
        known: Vec<&'static str>,
    },
    /// The config table does not match the plugin's typed config.
    #[error("invalid config for plugin `{plugin}`: {message}")]
    Config {
        /// Plugin name.
        plugin: String,
        /// The deserializer's message (names the field).
        message: String,
        /// Where in the config fragment the problem is, when known.
        span: Option<std::ops::Range<usize>>,
    },
    /// The plugin rejected its config (bad regex, missing file, ...).
    #[error("plugin `{plugin}`: {source}")]
    Build {
        /// Plugin name.
        plugin: String,
        /// The plugin's error.
        source: BoxError,
    },
}

type BuildFn =
    Box<dyn Fn(toml_edit::Value, &Shared) -> Result<Arc<dyn Plugin>, BuildError> + Send + Sync>;

/// The one list of plugins a binary knows. Register explicitly:
/// `registry.register::<MyPlugin>()`.
#[derive(Default)]
pub struct Registry {
    factories: BTreeMap<&'static str, BuildFn>,
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a plugin factory under `F::NAME` (a later registration replaces an earlier one).
    pub fn register<F: PluginFactory>(&mut self) -> &mut Self {
        let build: BuildFn = Box::new(|config, shared| {
            let cfg = F::Config::deserialize(config.into_deserializer()).map_err(|e| {
                BuildError::Config {
                    plugin: F::NAME.to_string(),
                    message: e.message().trim().to_string(),
                    span: e.span(),
                }
            })?;
            F::build(cfg, shared).map_err(|source| BuildError::Build {
                plugin: F::NAME.to_string(),
                source,
            })
        });
        self.factories.insert(F::NAME, build);
        self
    }

    /// Names of all registered plugins, sorted.
    pub fn names(&self) -> Vec<&'static str> {
        self.factories.keys().copied().collect()
    }

    /// Builds the plugin `name` from its config table. Error spans are those of the
    /// values inside `config`: positions in the config file when `config` came from it.
    pub fn build(
        &self,
        name: &str,
        config: toml_edit::Value,
        shared: &Shared,
    ) -> Result<Arc<dyn Plugin>, BuildError> {
        match self.factories.get(name) {
            Some(build) => build(config, shared),
            None => Err(BuildError::Unknown {
                name: name.to_string(),
                known: self.names(),
            }),
        }
    }

    /// Like [`build`](Self::build), from the TOML text of an inline table such as
    /// `{ status = 200 }` (for tests and programs that build plugins by hand); error spans
    /// are relative to that text.
    pub fn build_str(
        &self,
        name: &str,
        config_toml: &str,
        shared: &Shared,
    ) -> Result<Arc<dyn Plugin>, BuildError> {
        let config = config_toml
            .parse::<toml_edit::Value>()
            .map_err(|e| BuildError::Config {
                plugin: name.to_string(),
                message: e.to_string().trim().to_string(),
                span: None,
            })?;
        self.build(name, config, shared)
    }
}
