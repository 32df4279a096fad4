//! The reload itself: read, check, assemble (carrying parts over), read Consul for new
//! groups, install. Any error leaves the running generation untouched.

use std::sync::Arc;
use std::time::{Instant, SystemTime};

use once_cell::sync::Lazy;
use prometheus::{IntCounterVec, IntGauge};

use super::{check, Carry, Generation, Source, World};
use crate::assembly;
use crate::config;
use crate::upstream::discovery;

/// Generation number in force (`edgeproxy_config_generation`).
pub(super) static GENERATION: Lazy<IntGauge> = Lazy::new(|| {
    crate::metrics::gauge(
        "edgeproxy_config_generation",
        "Configuration generation in force: 1 at start, one more per reload in place",
    )
});

/// Reloads by result (`applied`, `refused`).
static RELOADS: Lazy<IntCounterVec> = Lazy::new(|| {
    crate::metrics::counter_vec(
        "edgeproxy_config_reloads_total",
        "Reloads in place by result: applied, or refused (the running config kept)",
        &["result"],
    )
});

/// Why a reload did not happen; the running generation keeps serving.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The new config has errors (every one, as `FILE:LINE:COL: message`).
    #[error("{0}")]
    Config(String),
    /// The change needs new listeners or a new process.
    #[error("`{0}` cannot change in place; apply it with `edgeproxy -s upgrade` (a new process takes the listeners over)")]
    NeedsUpgrade(String),
    /// A Consul source of a new `strong_dependency` group cannot be read.
    #[error("{0}")]
    Consul(String),
}

/// What a reload did.
#[derive(Debug, Clone)]
pub struct Reloaded {
    /// The generation now in force.
    pub generation: u64,
    /// Parts carried over.
    pub kept: Vec<String>,
    /// Parts built new.
    pub built: Vec<String>,
    /// Warnings of the new config (e.g. a certificate expiring soon).
    pub warnings: Vec<String>,
    /// How long it took, from reading the file to installing.
    pub took: std::time::Duration,
}

impl World {
    /// Reloads in place from `source` (the running one's when `None`): on success every
    /// request that starts from now on runs on the new generation. One reload at a time.
    pub async fn reload(&self, source: Option<Source>) -> Result<Reloaded, ReloadError> {
        let _one = self.inner.reloading.lock().await;
        let started = Instant::now();
        let source = source.unwrap_or_else(|| self.source());
        let result = self.reload_from(&source, started).await;
        match &result {
            Ok(r) => {
                RELOADS.with_label_values(&["applied"]).inc();
                tracing::info!(
                    generation = r.generation,
                    config = %source.conf.display(),
                    kept = ?r.kept,
                    built = ?r.built,
                    took_ms = r.took.as_millis() as u64,
                    "configuration reloaded in place"
                );
            }
            Err(e) => {
                RELOADS.with_label_values(&["refused"]).inc();
                super::status::refused(&e.to_string());
                tracing::error!(
                    config = %source.conf.display(),
                    generation = self.current().number,
                    "reload refused, the running configuration keeps serving: {e}"
                );
            }
        }
        result
    }

    async fn reload_from(
        &self,
        source: &Source,
        started: Instant,
    ) -> Result<Reloaded, ReloadError> {
        let old = self.current();
        let mut spec =
            config::read(&source.conf).map_err(|d| ReloadError::Config(d.to_string()))?;
        source.adjust(&mut spec);
        if let Some(key) = check::needs_upgrade(&old.app, &spec) {
            return Err(ReloadError::NeedsUpgrade(key));
        }
        let carry = Carry::after(&old.carry);
        let mut app = assembly::assemble_with(spec, &self.inner.registry, false, &carry)
            .map_err(|d| ReloadError::Config(d.to_string()))?;
        carry.settle();
        // The listeners are the running ones (checked equal): their live certificates.
        for (new, old) in app.servers.iter_mut().zip(&old.app.servers) {
            new.listen = old.listen.clone();
        }
        let fresh: Vec<_> = app
            .upstreams
            .values()
            .filter(|g| !old.app.upstreams.values().any(|o| Arc::ptr_eq(o, g)))
            .cloned()
            .collect();
        let watchers = discovery::prepare_groups(&fresh)
            .await
            .map_err(|e| ReloadError::Consul(e.to_string()))?;
        crate::logging::set_level(&app.process.log_level);
        let (kept, built) = carry.report();
        let warnings = std::mem::take(&mut app.warnings);
        let file_hash = app.source_hash.clone();
        let next = Arc::new(Generation {
            number: old.number + 1,
            app,
            loaded_at: SystemTime::now(),
            file_hash,
            kept: kept.clone(),
            built: built.clone(),
            carry,
            pending_watchers: std::sync::Mutex::new(watchers),
        });
        drop(old);
        self.install(next.clone(), source.clone());
        Ok(Reloaded {
            generation: next.number,
            kept,
            built,
            warnings,
            took: started.elapsed(),
        })
    }
}
