//! Publishing versions: `config push` (checked like `-t`, then written with check-and-set),
//! `config promote` and `config rollback`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::kv::{Entry, Kv, Op, TxnError};
use super::manifest::{digest, keys, now_rfc3339, Manifest, MAIN};
use super::store::{safe_relative, Store};
use crate::plugin_api::Registry;

/// Largest file a version may hold: Consul's default KV value limit (512 KiB).
pub const MAX_FILE: usize = 512 * 1024;
/// Operations per transaction (Consul allows 64) and bytes per transaction (its request
/// limit is 512 KiB; values travel base64-encoded).
const TXN_OPS: usize = 60;
const TXN_BYTES: usize = 360 * 1024;

/// The files of a version from `path`: every file under a directory (hidden ones skipped;
/// `edgeproxy.toml` required), or one config file (as `edgeproxy.toml`).
pub fn local_files(path: &Path) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let mut out = BTreeMap::new();
    let read = |p: &Path| std::fs::read(p).map_err(|e| format!("{}: {e}", p.display()));
    if path.is_dir() {
        walk(path, path, &mut out)?;
        if !out.contains_key(MAIN) {
            return Err(format!("{}: no {MAIN} in this directory", path.display()));
        }
    } else {
        out.insert(MAIN.to_string(), read(path)?);
    }
    if let Some((name, b)) = out.iter().find(|(_, b)| b.len() > MAX_FILE) {
        return Err(format!(
            "{name}: {} bytes, more than a Consul KV value holds ({MAX_FILE}); keep large files out of the fleet version",
            b.len()
        ));
    }
    Ok(out)
}

fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for e in entries {
        let e = e.map_err(|e| format!("{}: {e}", dir.display()))?;
        let p = e.path();
        if e.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(root, &p, out)?;
        } else if p.is_file() {
            let rel = p
                .strip_prefix(root)
                .unwrap_or(&p)
                .to_string_lossy()
                .into_owned();
            if !safe_relative(&rel) {
                return Err(format!("{}: not a plain relative path", p.display()));
            }
            let bytes = std::fs::read(&p).map_err(|e| format!("{}: {e}", p.display()))?;
            out.insert(rel, bytes);
        }
    }
    Ok(())
}

/// Checks a version as every node will run it: the files written out as a node writes them,
/// the document read from `path` (so errors name the operator's FILE:LINE:COL) with its
/// relative paths resolved among the version's files, then assembled as `-t` does.
fn check(
    path: &Path,
    files: &BTreeMap<String, Vec<u8>>,
    registry: &Registry,
) -> Result<(), String> {
    let tmp = tempfile::tempdir().map_err(|e| format!("cannot create a temporary folder: {e}"))?;
    let m = manifest(0, files, String::new(), None, Vec::new());
    let dir = Store::new(tmp.path())
        .write(&m, files)
        .map_err(|e| e.to_string())?;
    let doc = document(path);
    let mut spec = crate::config::read(&doc).map_err(|d| d.to_string())?;
    if spec.process.config_source.is_some() {
        return Err(super::agent::source_in_version(&doc));
    }
    spec.base_dir = dir;
    crate::assembly::assemble(spec, registry, true)
        .map(|_| ())
        .map_err(|d| d.to_string())
}

fn manifest(
    version: u64,
    files: &BTreeMap<String, Vec<u8>>,
    note: String,
    previous: Option<u64>,
    canary: Vec<String>,
) -> Manifest {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    Manifest {
        version,
        files: files.iter().map(|(k, b)| (k.clone(), digest(b))).collect(),
        pushed_at: now_rfc3339(),
        pushed_by: format!("{user}@{}", host.trim()),
        note,
        previous,
        canary,
    }
}

/// The live keys and the newest version number ever published.
pub(super) struct Live {
    /// `live/current` and its manifest.
    pub current: Option<(Entry, Manifest)>,
    /// `live/canary` and its manifest.
    pub canary: Option<(Entry, Manifest)>,
    /// The highest version in `history/`.
    pub newest: u64,
}

pub(super) async fn live(kv: &Kv) -> Result<Live, String> {
    let (entries, _) = kv.list(keys::LIVE, 0).await.map_err(|e| e.to_string())?;
    let parse = |key: &str| -> Result<Option<(Entry, Manifest)>, String> {
        let Some(e) = entries.iter().find(|e| e.key == key) else {
            return Ok(None);
        };
        let m = serde_json::from_slice(&e.value).map_err(|err| format!("{key}: {err}"))?;
        Ok(Some((e.clone(), m)))
    };
    let (current, canary) = (parse(keys::CURRENT)?, parse(keys::CANARY)?);
    let (history, _) = kv.list("history/", 0).await.map_err(|e| e.to_string())?;
    let newest = history
        .iter()
        .filter_map(|e| e.key.strip_prefix("history/")?.parse::<u64>().ok())
        .chain(current.iter().chain(canary.iter()).map(|(_, m)| m.version))
        .max()
        .unwrap_or(0);
    Ok(Live {
        current,
        canary,
        newest,
    })
}

fn conflict(e: TxnError) -> String {
    match e {
        TxnError::Conflict(_) => "refused: the fleet's configuration changed since it was read \
             (another push, promote or rollback); run `edgeproxy config status` and `config diff`, \
             then push again"
            .to_string(),
        TxnError::Consul(e) => e.to_string(),
    }
}

/// Writes the blobs of `files` (content-addressed, so rewriting one is harmless), in
/// transactions within Consul's limits.
async fn put_blobs(kv: &Kv, files: &BTreeMap<String, Vec<u8>>) -> Result<(), String> {
    let mut ops = Vec::new();
    let mut bytes = 0;
    for b in files.values() {
        if !ops.is_empty() && (ops.len() >= TXN_OPS || bytes + b.len() > TXN_BYTES) {
            kv.txn(&ops).await.map_err(conflict)?;
            (ops, bytes) = (Vec::new(), 0);
        }
        bytes += b.len();
        ops.push(Op::Set(keys::blob(&digest(b)), b.clone()));
    }
    if !ops.is_empty() {
        kv.txn(&ops).await.map_err(conflict)?;
    }
    Ok(())
}

fn json(m: &Manifest) -> Vec<u8> {
    serde_json::to_vec(m).unwrap_or_default()
}

/// `config push`: the version published and what to say.
pub async fn push(
    kv: &Kv,
    path: &Path,
    canary: Vec<String>,
    note: String,
    registry: &Registry,
) -> Result<(u64, String), String> {
    let files = local_files(path)?;
    check(path, &files, registry)?;
    let live = live(kv).await?;
    let version = live.newest + 1;
    let previous = live.current.as_ref().map(|(_, m)| m.version);
    let m = manifest(version, &files, note, previous, canary.clone());
    put_blobs(kv, &files).await?;
    let mut ops = vec![Op::Cas(keys::history(version), json(&m), 0)];
    let index = |e: &Option<(Entry, Manifest)>| e.as_ref().map_or(0, |(e, _)| e.modify_index);
    if canary.is_empty() {
        ops.push(Op::Cas(
            keys::CURRENT.into(),
            json(&m),
            index(&live.current),
        ));
        if let Some((e, _)) = &live.canary {
            ops.push(Op::DeleteCas(keys::CANARY.into(), e.modify_index));
        }
    } else {
        ops.push(Op::Cas(keys::CANARY.into(), json(&m), index(&live.canary)));
        // The current version must not change under a canary either.
        if let Some((e, cm)) = &live.current {
            ops.push(Op::Cas(keys::CURRENT.into(), json(cm), e.modify_index));
        }
    }
    kv.txn(&ops).await.map_err(conflict)?;
    let said = match canary.is_empty() {
        true => format!("version {version} published to every node ({} files)\n", files.len()),
        false => format!(
            "version {version} published to the canary nodes {} ({} files); `edgeproxy config promote` makes it current\n",
            canary.join(", "),
            files.len()
        ),
    };
    Ok((version, said))
}

/// `config promote`.
pub async fn promote(kv: &Kv) -> Result<String, String> {
    let live = live(kv).await?;
    let Some((ce, cm)) = live.canary else {
        return Err("no canary version to promote".into());
    };
    let mut m = cm.clone();
    m.canary.clear();
    m.previous = live.current.as_ref().map(|(_, m)| m.version);
    let ops = vec![
        Op::Cas(
            keys::CURRENT.into(),
            json(&m),
            live.current.as_ref().map_or(0, |(e, _)| e.modify_index),
        ),
        Op::DeleteCas(keys::CANARY.into(), ce.modify_index),
    ];
    kv.txn(&ops).await.map_err(conflict)?;
    Ok(format!(
        "version {} is now current on every node\n",
        m.version
    ))
}

/// `config rollback`.
pub async fn rollback(kv: &Kv) -> Result<String, String> {
    let live = live(kv).await?;
    let Some((ce, cm)) = &live.current else {
        return Err("nothing published yet".into());
    };
    let Some(prev) = cm.previous else {
        return Err(format!(
            "version {} has no previous version to go back to",
            cm.version
        ));
    };
    let Some(old) = kv
        .get(&keys::history(prev))
        .await
        .map_err(|e| e.to_string())?
    else {
        return Err(format!("history/{prev} is missing from Consul"));
    };
    let old: Manifest =
        serde_json::from_slice(&old.value).map_err(|e| format!("history/{prev}: {e}"))?;
    let version = live.newest + 1;
    let m = Manifest {
        version,
        note: format!("rollback to {prev} (from {})", cm.version),
        previous: Some(cm.version),
        canary: Vec::new(),
        pushed_at: now_rfc3339(),
        ..old
    };
    let mut ops = vec![
        Op::Cas(keys::history(version), json(&m), 0),
        Op::Cas(keys::CURRENT.into(), json(&m), ce.modify_index),
    ];
    if let Some((e, _)) = &live.canary {
        ops.push(Op::DeleteCas(keys::CANARY.into(), e.modify_index));
    }
    kv.txn(&ops).await.map_err(conflict)?;
    Ok(format!(
        "version {version} (the files of version {prev}) is now current on every node\n"
    ))
}

/// The document a version's `path` argument names (for messages).
pub fn document(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(MAIN)
    } else {
        path.to_path_buf()
    }
}
