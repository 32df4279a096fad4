//! The fleet config source at run time: where a node starts from ([`plan_start`]) and the
//! background service that follows `live/` with blocking queries and applies each new
//! version in place ([`Agent`]), reporting under `status/<node>`.
//!
//! Consul errors keep the version in force and back off (100 ms doubling up to
//! `max_backoff`); an index that goes backwards (Consul restarted with a new state) starts
//! over with a plain read; at most one read per 50 ms.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;

use super::manifest::{keys, Manifest, Refused};
use super::node::{Node, APPLIES};
use super::store::Store;
use crate::generation::{Source, World};

const MIN_INTERVAL: Duration = Duration::from_millis(50);
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// A fleet-managed process: its node, its own process settings, and what it runs and
/// last refused.
#[derive(Debug)]
pub struct Managed {
    /// The node.
    pub node: Node,
    /// This machine's process settings from the bootstrap file (resolved): its pid file,
    /// sockets, error log and name hold for every version it runs.
    pub local: crate::config::ProcessSettings,
    /// Version in force (0: the bootstrap file) and the last refused one.
    state: Mutex<(u64, Option<Refused>)>,
}

impl Managed {
    /// A node running `version` (0: the bootstrap file), `refused` the version it could
    /// not apply at start, if any; `local` its bootstrap file's process settings.
    pub fn new(
        node: Node,
        local: crate::config::ProcessSettings,
        version: u64,
        refused: Option<Refused>,
    ) -> Self {
        node.set_status(version, refused.clone());
        Managed {
            node,
            local,
            state: Mutex::new((version, refused)),
        }
    }

    /// Gives `p` (a version's process settings) this machine's own: pid file, upgrade and
    /// control sockets, error log and node name.
    pub fn localize(&self, p: &mut crate::config::ProcessSettings) {
        let l = &self.local;
        p.pid_file = l.pid_file.clone();
        p.upgrade_sock = l.upgrade_sock.clone();
        p.control_sock = l.control_sock.clone();
        p.error_log = l.error_log.clone();
        p.node_name = l.node_name.clone();
    }

    fn state(&self) -> (u64, Option<Refused>) {
        match self.state.lock() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Records (and publishes as this node's status) the version in force and the last
    /// refused one.
    pub fn set_state(&self, version: u64, refused: Option<Refused>) {
        self.node.set_status(version, refused.clone());
        match self.state.lock() {
            Ok(mut s) => *s = (version, refused),
            Err(p) => *p.into_inner() = (version, refused),
        }
    }
}

/// One place a node may start from, best first.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The version (0: the bootstrap file).
    pub version: u64,
    /// Its configuration document and the folder its relative paths resolve against.
    pub source: Source,
}

/// Where a fleet node starts from, best first: the version Consul says it should run
/// (fetched to disk), the last version it applied, then its bootstrap file — unless
/// `strong_dependency` is set and Consul cannot be read (`Err`).
pub fn plan_start(node: &Node, bootstrap: &Source) -> Result<Vec<Candidate>, String> {
    let mut out = Vec::new();
    let from_consul = run_blocking(async {
        let (live, _) = node
            .kv
            .list(keys::LIVE, 0)
            .await
            .map_err(|e| e.to_string())?;
        match node.wanted(&live).map_err(|e| e.to_string())? {
            Some(m) => node
                .fetch(&m)
                .await
                .map(|dir| Some((m.version, dir)))
                .map_err(|e| e.to_string()),
            None => Ok(None),
        }
    });
    match from_consul {
        Ok(Some((v, dir))) => out.push(candidate(v, dir, bootstrap)),
        Ok(None) => {
            tracing::info!("fleet: no version published yet; starting from what is on disk")
        }
        Err(e) if node.spec.consul.strong_dependency => {
            return Err(format!(
                "the config source in Consul is a strong dependency and cannot be read: {e}; \
                 hint: start Consul, or set strong_dependency = false to start from the last \
                 applied version"
            ))
        }
        Err(e) => tracing::warn!("fleet: cannot read the config source, starting from disk: {e}"),
    }
    if let Some((m, dir)) = node.store.current() {
        if out.iter().all(|c| c.version != m.version) {
            out.push(candidate(m.version, dir, bootstrap));
        }
    }
    out.push(Candidate {
        version: 0,
        source: bootstrap.clone(),
    });
    Ok(out)
}

fn candidate(version: u64, dir: std::path::PathBuf, bootstrap: &Source) -> Candidate {
    Candidate {
        version,
        source: Source {
            conf: Store::main_file(&dir),
            prefix: Some(dir),
            fleet: bootstrap.fleet.clone(),
        },
    }
}

/// Runs `f` on a runtime of its own (start-up happens before Pingora's runtimes exist).
fn run_blocking<T>(f: impl std::future::Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?
        .block_on(f)
}

/// The background service that applies new versions in place.
pub struct Agent {
    world: World,
    managed: Arc<Managed>,
}

impl Agent {
    /// The agent of the process whose world is `world`, managed as `managed`.
    pub fn new(world: World, managed: Arc<Managed>) -> Self {
        Agent { world, managed }
    }

    /// Applies `m` in place unless it is the version in force or the one refused last.
    async fn apply(&self, m: &Manifest) {
        let node = &self.managed.node;
        let (version, refused) = self.managed.state();
        if m.version == version || refused.as_ref().is_some_and(|r| r.version == m.version) {
            return;
        }
        let result = match node.fetch(m).await {
            Err(e) => Err(e.to_string()),
            Ok(dir) => {
                let source = candidate(m.version, dir, &self.world.source()).source;
                match version_problem(&source) {
                    Some(e) => Err(e),
                    None => self
                        .world
                        .reload(Some(source))
                        .await
                        .map_err(|e| e.to_string()),
                }
            }
        };
        match result {
            Ok(done) => {
                if let Err(e) = node.store.set_current(m.version) {
                    tracing::warn!(
                        "fleet: version {} applied but not recorded on disk: {e}",
                        m.version
                    );
                }
                APPLIES.with_label_values(&["applied"]).inc();
                tracing::info!(
                    version = m.version,
                    generation = done.generation,
                    "fleet: configuration version applied in place"
                );
                self.managed.set_state(m.version, None);
            }
            Err(error) => {
                APPLIES.with_label_values(&["refused"]).inc();
                tracing::error!(
                    version = m.version,
                    running = version,
                    "fleet: version refused, this node keeps its version: {error}"
                );
                let refused = Refused {
                    version: m.version,
                    error,
                };
                self.managed.set_state(version, Some(refused));
            }
        }
    }
}

/// What makes a fleet version unfit to run regardless of this node (`config_source` inside
/// a version would point nodes elsewhere).
pub fn version_problem(source: &Source) -> Option<String> {
    let text = std::fs::read_to_string(&source.conf).ok()?;
    let doc = toml_edit::ImDocument::parse(text.as_str()).ok()?;
    doc.get("server")?.get("config_source")?;
    Some(source_in_version(&source.conf))
}

/// The refusal of a fleet version that has `[server] config_source` (at push and on nodes).
pub fn source_in_version(doc: &std::path::Path) -> String {
    format!(
        "{}: `[server] config_source` belongs in each node's bootstrap file, not in a fleet version",
        doc.display()
    )
}

/// How often a node refreshes its request counters in its status.
const REFRESH: Duration = Duration::from_secs(3);

impl Agent {
    /// Writes this node's status when it differs from the last one written.
    async fn report(&self, last: &mut Option<super::manifest::NodeStatus>) {
        let Some(s) = super::node::status() else {
            return;
        };
        if last.as_ref() != Some(&*s) && self.managed.node.report(&s).await.is_ok() {
            *last = Some((*s).clone());
        }
    }

    /// Reports the status: when [`follow`](Self::follow) asks (a version applied or
    /// refused, the source unreadable), and every [`REFRESH`] with fresh request counters.
    /// Its own task, so a status write that hangs (Consul hanging: up to its 5 s timeout)
    /// never holds up following the fleet's versions.
    async fn reporter(&self, asked: &tokio::sync::Notify) {
        let mut last = None;
        // A clock of its own, so frequent asks do not put the refresh off.
        let mut every = tokio::time::interval_at(tokio::time::Instant::now() + REFRESH, REFRESH);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let refresh = tokio::select! {
                _ = every.tick() => true,
                _ = asked.notified() => false,
            };
            if refresh {
                let (version, refused) = self.managed.state();
                self.managed.node.set_status(version, refused);
            }
            self.report(&mut last).await;
        }
    }

    async fn follow(&self, report: &tokio::sync::Notify) {
        let node = &self.managed.node;
        let (mut index, mut backoff) = (0u64, FIRST_BACKOFF);
        loop {
            let started = tokio::time::Instant::now();
            let wait = match node.kv.list(keys::LIVE, index).await {
                Ok((live, new_index)) => {
                    backoff = FIRST_BACKOFF;
                    index = if new_index < index {
                        0
                    } else {
                        new_index.max(1)
                    };
                    match node.wanted(&live) {
                        Ok(Some(m)) => self.apply(&m).await,
                        Ok(None) => {}
                        Err(e) => tracing::warn!("fleet: {e}"),
                    }
                    MIN_INTERVAL.saturating_sub(started.elapsed())
                }
                Err(e) => {
                    tracing::warn!(
                        "fleet: cannot read the config source, keeping the version in force: {e}"
                    );
                    index = 0;
                    let b = backoff;
                    backoff = (backoff * 2).min(node.spec.consul.max_backoff.max(FIRST_BACKOFF));
                    b
                }
            };
            report.notify_one();
            tokio::time::sleep(wait).await;
        }
    }
}

#[async_trait]
impl BackgroundService for Agent {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let report = tokio::sync::Notify::new();
        tokio::select! {
            _ = shutdown.changed() => {}
            _ = self.follow(&report) => {}
            _ = self.reporter(&report) => {}
        }
    }
}
