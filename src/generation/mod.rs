//! Configuration generations: reload in place.
//!
//! The assembled world — routers, plugin chains, upstream groups, caches, hot-key
//! machinery — is one immutable [`Generation`] behind an `ArcSwap` in the [`World`]. A
//! request loads the current generation once, when it starts (`ProxyHttp::new_ctx`), and
//! keeps that `Arc` to its end: in-flight requests finish on the generation they started
//! with, every later one (new connection, kept-alive connection, new HTTP/2 stream) runs on
//! the newest; the request path takes no lock.
//!
//! A reload ([`World::reload`]: `edgeproxy -s reload`, SIGHUP) reads and assembles the new
//! config in the running process; long-lived parts come from the previous generation when
//! their spec is unchanged ([`Carry`]): L1 caches, rate-limit windows, hot-key windows,
//! health, Consul watches. What Pingora builds once at start (listeners, runtimes,
//! process settings) cannot change in place: such a change is refused, naming the key and
//! `-s upgrade` (the process hand-over). Background work follows the generation
//! ([`tasks::TaskSet`]); a retired part stops its tasks when it is dropped.

mod carry;
mod check;
mod reload;
mod status;
pub mod tasks;

pub use carry::Carry;
pub use reload::{ReloadError, Reloaded};
pub use status::{config_status, ConfigStatus};

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use tokio::sync::watch;

use crate::assembly::App;
use crate::plugin_api::Registry;
use crate::upstream::ConsulWatcher;

/// One assembled configuration, immutable once installed.
pub struct Generation {
    /// 1 for the configuration the process started with, then one more per reload.
    pub number: u64,
    /// The assembled world.
    pub app: App,
    /// When it was installed.
    pub loaded_at: SystemTime,
    /// A hash of the config file's text (SipHash, hex).
    pub file_hash: String,
    /// Parts carried over from the previous generation, and parts built new.
    pub kept: Vec<String>,
    /// Parts built new (all of them for the first generation).
    pub built: Vec<String>,
    /// The parts this generation holds, offered to the next.
    pub carry: Arc<Carry>,
    /// Consul watchers of the groups this generation built, waiting for the discovery
    /// service to run them.
    pending_watchers: Mutex<Vec<ConsulWatcher>>,
}

impl Generation {
    /// The first generation: `app` as assembled at start, its groups' watchers prepared by
    /// `discovery::prepare`.
    pub fn first(app: App, watchers: Vec<ConsulWatcher>) -> Self {
        let carry = app.carry.clone();
        carry.settle();
        let (kept, built) = carry.report();
        let file_hash = app.source_hash.clone();
        Generation {
            number: 1,
            app,
            loaded_at: SystemTime::now(),
            file_hash,
            kept,
            built,
            carry,
            pending_watchers: Mutex::new(watchers),
        }
    }

    /// The `index`th server block (the same block in every generation of a process).
    pub fn block(&self, index: usize) -> &crate::assembly::ServerBlock {
        &self.app.servers[index]
    }

    /// The upstream group a request goes to: its route's, or the one a plugin chose.
    pub fn group(
        &self,
        req: &crate::plugin_api::RequestCtx,
    ) -> Option<&Arc<crate::upstream::UpstreamGroup>> {
        self.app.upstreams.get(&**req.upstream.as_ref()?)
    }

    /// Takes the Consul watchers that wait to be run (once).
    pub fn take_watchers(&self) -> Vec<ConsulWatcher> {
        match self.pending_watchers.lock() {
            Ok(mut w) => std::mem::take(&mut *w),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }
}

/// Where the running configuration comes from: the file and the `-p` prefix, and for a
/// fleet-managed node (`[server] config_source`) the fleet it follows.
#[derive(Debug, Clone)]
pub struct Source {
    /// The config file (absolute).
    pub conf: PathBuf,
    /// The prefix relative paths resolve against (`-p`), else the file's directory.
    pub prefix: Option<PathBuf>,
    /// The fleet this node follows (its process settings override a version's).
    pub fleet: Option<Arc<crate::fleet::agent::Managed>>,
}

impl Source {
    /// A file source (no fleet).
    pub fn file(conf: PathBuf, prefix: Option<PathBuf>) -> Self {
        Source {
            conf,
            prefix,
            fleet: None,
        }
    }

    /// Applies what the source decides over the document: the prefix, and a fleet node's
    /// own process settings (pid file, sockets, error log, name).
    pub fn adjust(&self, spec: &mut crate::config::ConfigSpec) {
        if let Some(p) = &self.prefix {
            spec.base_dir = p.clone();
        }
        if let Some(f) = &self.fleet {
            f.localize(&mut spec.process);
        }
    }
}

/// The current generation, and what a reload needs to build the next one.
#[derive(Clone)]
pub struct World {
    inner: Arc<WorldInner>,
}

struct WorldInner {
    current: ArcSwap<Generation>,
    changed: watch::Sender<Arc<Generation>>,
    registry: Registry,
    source: Mutex<Source>,
    /// One reload at a time.
    reloading: tokio::sync::Mutex<()>,
}

impl World {
    /// A world whose first generation is `first`; reloads build plugins with `registry`
    /// from `source`.
    pub fn new(first: Generation, registry: Registry, source: Source) -> World {
        let first = Arc::new(first);
        status::publish(&first, &source.conf);
        let (changed, _) = watch::channel(first.clone());
        World {
            inner: Arc::new(WorldInner {
                current: ArcSwap::new(first),
                changed,
                registry,
                source: Mutex::new(source),
                reloading: tokio::sync::Mutex::new(()),
            }),
        }
    }

    /// The generation in force now (a request keeps the one it started with).
    pub fn current(&self) -> Arc<Generation> {
        self.inner.current.load_full()
    }

    /// Follows the generations: the receiver sees every newly installed one.
    pub fn subscribe(&self) -> watch::Receiver<Arc<Generation>> {
        self.inner.changed.subscribe()
    }

    /// The config file the running generation came from.
    pub fn source(&self) -> Source {
        match self.inner.source.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Installs `next` as the current generation.
    fn install(&self, next: Arc<Generation>, source: Source) {
        status::publish(&next, &source.conf);
        self.inner.current.store(next.clone());
        self.inner.changed.send_replace(next);
        if let Ok(mut s) = self.inner.source.lock() {
            *s = source;
        }
    }
}

/// SipHash of `text`, as 16 hex digits.
pub fn hash_text(text: &str) -> String {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}
