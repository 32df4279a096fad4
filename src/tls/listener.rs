//! The live certificates of one TLS listener: loaded at start, re-read when their files
//! change (checked by [`super::reload`]), swapped in atomically for new handshakes. A broken
//! or mismatched replacement keeps the pair in use, and is logged and counted; connections
//! already open are never touched.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use once_cell::sync::Lazy;
use prometheus::{IntCounterVec, IntGaugeVec};

use super::certs::{CertError, CertPair, CertPaths};
use super::sni::CertStore;
use crate::metrics;

/// Seconds until each certificate's `notAfter`.
static EXPIRY: Lazy<IntGaugeVec> = Lazy::new(|| {
    metrics::gauge_vec(
        "edgeproxy_tls_certificate_expiry_seconds",
        "Seconds until the certificate in use expires (notAfter), by server block and file",
        &["server", "cert"],
    )
});

/// Certificate reload attempts, by outcome (`ok` or `error`: the old pair stays).
static RELOADS: Lazy<IntCounterVec> = Lazy::new(|| {
    metrics::counter_vec(
        "edgeproxy_tls_certificate_reloads_total",
        "Certificate files re-read after a change, by server block, file and result (ok|error)",
        &["server", "cert", "result"],
    )
});

/// What identifies a file's version: modification time, size, inode (a file replaced by
/// rename gets a new inode even within one mtime tick).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Stamp(i64, i64, u64, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some(Stamp(m.mtime(), m.mtime_nsec(), m.len(), m.ino()))
}

/// One configured pair: its current certificate and the file versions last tried.
struct Slot {
    paths: CertPaths,
    tried: (Option<Stamp>, Option<Stamp>),
    pair: Arc<CertPair>,
}

/// The certificates of one listener.
pub struct ListenerTls {
    server: Arc<str>,
    slots: Mutex<Vec<Slot>>,
    store: ArcSwap<CertStore>,
}

impl std::fmt::Debug for ListenerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ListenerTls")
            .field("server", &self.server)
            .finish()
    }
}

impl ListenerTls {
    /// Loads every pair of `paths` (in order; the first is the default certificate).
    /// Fails with the index of the first pair that cannot be used.
    pub fn load(server: Arc<str>, paths: &[CertPaths]) -> Result<ListenerTls, (usize, CertError)> {
        let mut slots = Vec::with_capacity(paths.len());
        for (i, p) in paths.iter().enumerate() {
            let tried = (stamp(&p.cert), stamp(&p.key));
            let pair = Arc::new(CertPair::load(p).map_err(|e| (i, e))?);
            slots.push(Slot {
                paths: p.clone(),
                tried,
                pair,
            });
        }
        let pairs: Vec<_> = slots.iter().map(|s| s.pair.clone()).collect();
        let Some(store) = CertStore::new(&pairs) else {
            return Err((0, CertError::NoCertificates));
        };
        let tls = ListenerTls {
            server,
            slots: Mutex::new(slots),
            store: ArcSwap::from_pointee(store),
        };
        tls.export_expiry();
        Ok(tls)
    }

    /// The pairs in use now, for new handshakes.
    pub fn store(&self) -> arc_swap::Guard<Arc<CertStore>> {
        self.store.load()
    }

    /// The pairs in use, in configured order (for `-t` warnings and tests).
    pub fn pairs(&self) -> Vec<Arc<CertPair>> {
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        slots.iter().map(|s| s.pair.clone()).collect()
    }

    /// Re-reads every pair whose files changed since they were last tried; swaps in a new
    /// store when one loaded. Returns how many pairs were replaced.
    pub fn check(&self) -> usize {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let mut replaced = 0;
        for slot in slots.iter_mut() {
            let now = (stamp(&slot.paths.cert), stamp(&slot.paths.key));
            if now == slot.tried {
                continue;
            }
            slot.tried = now;
            let cert = slot.paths.cert.display().to_string();
            match CertPair::load(&slot.paths) {
                Ok(pair) => {
                    tracing::info!(server = %self.server, cert, names = ?pair.names,
                        "certificate reloaded");
                    RELOADS
                        .with_label_values(&[&*self.server, &cert, "ok"])
                        .inc();
                    slot.pair = Arc::new(pair);
                    replaced += 1;
                }
                Err(e) => {
                    tracing::error!(server = %self.server, cert,
                        "certificate not reloaded, the one in use stays: {e}");
                    RELOADS
                        .with_label_values(&[&*self.server, &cert, "error"])
                        .inc();
                }
            }
        }
        if replaced > 0 {
            let pairs: Vec<_> = slots.iter().map(|s| s.pair.clone()).collect();
            if let Some(store) = CertStore::new(&pairs) {
                self.store.store(Arc::new(store));
            }
        }
        drop(slots);
        self.export_expiry();
        replaced
    }

    fn export_expiry(&self) {
        for pair in self.pairs() {
            let cert = pair.paths.cert.display().to_string();
            EXPIRY
                .with_label_values(&[&*self.server, &cert])
                .set(pair.expires_in());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testcert;

    #[test]
    fn a_changed_pair_is_swapped_in_and_a_broken_one_keeps_the_old() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = testcert::write(dir.path(), "site", &["one.test"], 30);
        let tls = ListenerTls::load("s".into(), std::slice::from_ref(&paths)).expect("load");
        assert_eq!(tls.check(), 0, "nothing changed");
        testcert::write(dir.path(), "site", &["two.test"], 30);
        assert_eq!(tls.check(), 1);
        assert_eq!(tls.store().select(None).names, ["two.test"]);
        // A new certificate whose key has not been written yet: mismatch, old pair stays.
        let other = testcert::write(dir.path(), "other", &["three.test"], 30);
        std::fs::copy(&other.cert, &paths.cert).expect("copy");
        assert_eq!(tls.check(), 0);
        assert_eq!(tls.store().select(None).names, ["two.test"]);
        // The key arrives: now the pair loads.
        std::fs::copy(&other.key, &paths.key).expect("copy");
        assert_eq!(tls.check(), 1);
        assert_eq!(tls.store().select(None).names, ["three.test"]);
    }
}
