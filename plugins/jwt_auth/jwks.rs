//! Public keys from a JWKS file (RFC 7517), selected by `kid`, reloaded when the file changes.
//!
//! Only RSA and EC signature keys are taken: `oct` (symmetric) keys in a JWKS are skipped,
//! so a JWKS can never turn into an HMAC secret (alg confusion), nor can `use: enc` keys.
//!
//! Reload: see [`crate::support::watched_file`]; a changed file is parsed off the request path and
//! the new key set replaces the old one atomically (`ArcSwap`). A file that cannot be read, does not
//! parse or holds no usable key keeps the last good keys, logged once per change.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};

use crate::support::watched_file::{off_request_path, WatchedFile};

/// One usable key of a JWKS.
struct Entry {
    kid: Option<String>,
    alg: Option<Algorithm>,
    key: DecodingKey,
}

/// The usable keys of one JWKS document.
pub struct KeySet {
    keys: Vec<Entry>,
}

impl KeySet {
    /// Parses a JWKS document; an error when it does not parse or holds no usable key.
    pub fn parse(text: &str) -> Result<KeySet, String> {
        let set: JwkSet = serde_json::from_str(text).map_err(|e| format!("not a JWKS: {e}"))?;
        let mut keys = Vec::new();
        for jwk in &set.keys {
            let usable = matches!(
                jwk.algorithm,
                AlgorithmParameters::RSA(_) | AlgorithmParameters::EllipticCurve(_)
            ) && matches!(
                jwk.common.public_key_use,
                None | Some(PublicKeyUse::Signature)
            );
            if !usable {
                continue;
            }
            let alg = match &jwk.common.key_algorithm {
                Some(a) => match a.to_string().parse::<Algorithm>() {
                    Ok(a) => Some(a),
                    Err(_) => continue,
                },
                None => None,
            };
            let key = DecodingKey::from_jwk(jwk).map_err(|e| {
                let kid = jwk.common.key_id.as_deref().unwrap_or("(no kid)");
                format!("key {kid}: {e}")
            })?;
            keys.push(Entry {
                kid: jwk.common.key_id.clone(),
                alg,
                key,
            });
        }
        if keys.is_empty() {
            return Err("no usable RSA or EC signature key".into());
        }
        Ok(KeySet { keys })
    }

    /// Number of usable keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether the set has no key (never true for a parsed set).
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The key for a token signed with `alg` naming `kid`: the key with that `kid`, of
    /// `alg`'s family and, when the key names an algorithm, that one. Without a `kid`,
    /// the only key that fits, if exactly one does.
    pub fn select(&self, kid: Option<&str>, alg: Algorithm) -> Option<&DecodingKey> {
        let fits = |e: &&Entry| {
            e.key.family() == alg.family()
                && e.key.family() != AlgorithmFamily::Hmac
                && e.alg.is_none_or(|a| a == alg)
        };
        match kid {
            Some(kid) => self
                .keys
                .iter()
                .filter(fits)
                .find(|e| e.kid.as_deref() == Some(kid))
                .map(|e| &e.key),
            None => {
                let mut fitting = self.keys.iter().filter(fits);
                match (fitting.next(), fitting.next()) {
                    (Some(only), None) => Some(&only.key),
                    _ => None,
                }
            }
        }
    }
}

fn read(path: &Path) -> Result<KeySet, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    KeySet::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// A JWKS file and its current keys.
pub struct JwksFile {
    file: WatchedFile,
    keys: ArcSwap<KeySet>,
}

impl JwksFile {
    /// Reads `path` now (an unreadable or bad file is an error); later changes are looked
    /// for at most once per `check_every`.
    pub fn open(path: PathBuf, check_every: Duration) -> Result<JwksFile, String> {
        let file = WatchedFile::new(path, check_every);
        let keys = read(file.path())?;
        Ok(JwksFile {
            file,
            keys: ArcSwap::from_pointee(keys),
        })
    }

    /// The current keys (schedules a reload check first, see the module docs).
    pub fn keys(self: &Arc<Self>) -> arc_swap::Guard<Arc<KeySet>> {
        if self.file.check_due() {
            let this = Arc::clone(self);
            off_request_path(move || {
                this.reload_if_changed();
            });
        }
        self.keys.load()
    }

    /// Reads the file again if its modification time or length changed since it was last
    /// looked at; returns whether new keys are in use.
    pub fn reload_if_changed(&self) -> bool {
        if !self.file.changed() {
            return false;
        }
        match read(self.file.path()) {
            Ok(keys) => {
                let n = keys.len();
                self.keys.store(Arc::new(keys));
                tracing::info!(file = %self.file.path().display(), keys = n, "jwt-auth: JWKS reloaded");
                true
            }
            Err(e) => {
                tracing::error!("jwt-auth: JWKS not reloaded, keeping the last good keys: {e}");
                false
            }
        }
    }
}
