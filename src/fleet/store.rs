//! The versions a node has applied, on its disk (`state_dir`): `versions/N/` holds version
//! N's files as they were in KV (plus `manifest.json`), `current` is a symlink to the last
//! one applied. A node restarted while Consul is down starts from `current`.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Component, Path, PathBuf};

use super::manifest::{Manifest, MAIN};

/// How many applied versions are kept on disk (the current one included).
const KEEP: usize = 5;

/// Why a version could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A file path in the manifest is absolute or leaves the version's folder.
    #[error("version {version}: file path {path:?} must be relative and stay inside the version")]
    BadPath {
        /// The version.
        version: u64,
        /// The path as listed.
        path: String,
    },
    /// A file's bytes do not match the digest its manifest lists.
    #[error("version {version}: {path} does not match its digest")]
    Digest {
        /// The version.
        version: u64,
        /// The file.
        path: String,
    },
    /// The file system refused.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The error.
        source: std::io::Error,
    },
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Whether `rel` is a plain relative path (no root, no `..`).
pub fn safe_relative(rel: &str) -> bool {
    let p = Path::new(rel);
    !rel.is_empty()
        && p.components()
            .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
}

/// A node's state directory.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
}

impl Store {
    /// The store in `dir` (created when a version is first written).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Store { dir: dir.into() }
    }

    /// The folder of version `v`.
    pub fn version_dir(&self, v: u64) -> PathBuf {
        self.dir.join("versions").join(v.to_string())
    }

    /// Whether version `v` is on disk, complete.
    pub fn has(&self, v: u64) -> bool {
        self.version_dir(v).join("manifest.json").is_file()
    }

    /// Writes version `m` with `files` (path → bytes, checked against the manifest) into
    /// its folder, atomically (a temporary folder renamed into place). Returns the folder.
    pub fn write(
        &self,
        m: &Manifest,
        files: &BTreeMap<String, Vec<u8>>,
    ) -> Result<PathBuf, StoreError> {
        let target = self.version_dir(m.version);
        if self.has(m.version) {
            return Ok(target);
        }
        let versions = self.dir.join("versions");
        let tmp = versions.join(format!(".tmp-{}-{}", m.version, std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
        for (rel, sha) in &m.files {
            if !safe_relative(rel) {
                return Err(StoreError::BadPath {
                    version: m.version,
                    path: rel.clone(),
                });
            }
            let bytes = files
                .get(rel)
                .filter(|b| super::manifest::digest(b) == *sha);
            let Some(bytes) = bytes else {
                return Err(StoreError::Digest {
                    version: m.version,
                    path: rel.clone(),
                });
            };
            let path = tmp.join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(io(parent))?;
            }
            write_synced(&path, bytes)?;
        }
        let manifest = serde_json::to_vec_pretty(m).unwrap_or_default();
        write_synced(&tmp.join("manifest.json"), &manifest)?;
        let _ = std::fs::remove_dir_all(&target);
        std::fs::rename(&tmp, &target).map_err(io(&target))?;
        Ok(target)
    }

    /// Makes version `v` the current one (`current` → `versions/v`, replaced atomically)
    /// and removes all but the newest [`KEEP`] versions.
    pub fn set_current(&self, v: u64) -> Result<(), StoreError> {
        let link = self.dir.join("current");
        let tmp = self.dir.join(format!(".current-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        let rel = Path::new("versions").join(v.to_string());
        std::os::unix::fs::symlink(&rel, &tmp).map_err(io(&tmp))?;
        std::fs::rename(&tmp, &link).map_err(io(&link))?;
        self.prune(v);
        Ok(())
    }

    fn prune(&self, current: u64) {
        let Ok(entries) = std::fs::read_dir(self.dir.join("versions")) else {
            return;
        };
        let mut versions: Vec<u64> = entries
            .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
            .collect();
        versions.sort_unstable_by(|a, b| b.cmp(a));
        for v in versions.into_iter().skip(KEEP).filter(|&v| v != current) {
            let _ = std::fs::remove_dir_all(self.version_dir(v));
        }
    }

    /// The version applied last, and its folder (symlink resolved).
    pub fn current(&self) -> Option<(Manifest, PathBuf)> {
        let dir = std::fs::canonicalize(self.dir.join("current")).ok()?;
        let text = std::fs::read(dir.join("manifest.json")).ok()?;
        let m: Manifest = serde_json::from_slice(&text).ok()?;
        Some((m, dir))
    }

    /// The configuration document of the version in `dir`.
    pub fn main_file(dir: &Path) -> PathBuf {
        dir.join(MAIN)
    }
}

fn write_synced(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let mut f = std::fs::File::create(path).map_err(io(path))?;
    f.write_all(bytes).map_err(io(path))?;
    f.sync_all().map_err(io(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::manifest::digest;

    fn manifest(v: u64, files: &BTreeMap<String, Vec<u8>>) -> Manifest {
        Manifest {
            version: v,
            files: files.iter().map(|(k, b)| (k.clone(), digest(b))).collect(),
            pushed_at: String::new(),
            pushed_by: String::new(),
            note: String::new(),
            previous: None,
            canary: vec![],
        }
    }

    #[test]
    fn versions_are_written_whole_and_current_follows() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::new(tmp.path());
        assert!(store.current().is_none());
        let files = BTreeMap::from([
            (MAIN.to_string(), b"[server]\n".to_vec()),
            ("templates/p.hbs".to_string(), b"<p>".to_vec()),
        ]);
        for v in 1..=7 {
            let dir = store.write(&manifest(v, &files), &files).unwrap();
            assert_eq!(std::fs::read(dir.join("templates/p.hbs")).unwrap(), b"<p>");
            store.set_current(v).unwrap();
        }
        let (m, dir) = store.current().unwrap();
        assert_eq!(m.version, 7);
        assert!(dir.ends_with("versions/7"));
        assert!(!store.has(2), "old versions are pruned");
        assert!(store.has(3));
        // A file that does not match its digest, or a path leaving the folder, is refused.
        let mut bad = manifest(8, &files);
        bad.files.insert("x".into(), digest(b"other"));
        let mut with_x = files.clone();
        with_x.insert("x".into(), b"y".to_vec());
        assert!(matches!(
            store.write(&bad, &with_x),
            Err(StoreError::Digest { .. })
        ));
        let escape = BTreeMap::from([("../x".to_string(), b"y".to_vec())]);
        assert!(matches!(
            store.write(&manifest(9, &escape), &escape),
            Err(StoreError::BadPath { .. })
        ));
        assert!(!store.has(8) && !store.has(9));
        assert!(
            safe_relative("a/b.txt") && !safe_relative("/etc/x") && !safe_relative("a/../../b")
        );
    }
}
