//! `config status` (every node, one table) and `config diff` (what a push would change).

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use super::kv::Kv;
use super::manifest::{keys, NodeStatus};
use super::publish::{live, local_files};

/// `config status`: the live versions, then one line per node that reported.
pub async fn status(kv: &Kv) -> Result<String, String> {
    let live = live(kv).await?;
    let (entries, _) = kv.list(keys::STATUS, 0).await.map_err(|e| e.to_string())?;
    let mut out = String::new();
    match &live.current {
        Some((_, m)) => {
            let _ = writeln!(
                out,
                "current: version {} (pushed {} by {}{})",
                m.version,
                m.pushed_at,
                m.pushed_by,
                note(&m.note)
            );
        }
        None => out.push_str("current: none published\n"),
    }
    if let Some((_, m)) = &live.canary {
        let _ = writeln!(
            out,
            "canary:  version {} for {} (pushed {} by {}{})",
            m.version,
            m.canary.join(", "),
            m.pushed_at,
            m.pushed_by,
            note(&m.note)
        );
    }
    let _ = writeln!(
        out,
        "\n{:<20} {:<16} {:>7}  {:<8} {:<21} ERROR",
        "NODE", "TAGS", "VERSION", "RESULT", "APPLIED AT"
    );
    for e in entries {
        let Ok(s) = serde_json::from_slice::<NodeStatus>(&e.value) else {
            let _ = writeln!(
                out,
                "{:<20} (unreadable status)",
                e.key.trim_start_matches(keys::STATUS)
            );
            continue;
        };
        let error = s
            .refused
            .as_ref()
            .map(|r| format!("version {} refused: {}", r.version, one_line(&r.error)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{:<20} {:<16} {:>7}  {:<8} {:<21} {error}",
            s.node,
            s.tags.join(","),
            s.version,
            s.result,
            s.applied_at
        );
    }
    Ok(out)
}

fn note(n: &str) -> String {
    match n.is_empty() {
        true => String::new(),
        false => format!(": {n}"),
    }
}

fn one_line(s: &str) -> String {
    s.lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(160)
        .collect()
}

/// `config diff PATH`: files added, removed and changed against the current version, with
/// a unified diff of changed text files.
pub async fn diff(kv: &Kv, path: &Path) -> Result<String, String> {
    let local = local_files(path)?;
    let live = live(kv).await?;
    let Some((_, current)) = live.current else {
        return Ok(format!(
            "nothing published yet: a push would add {} files\n",
            local.len()
        ));
    };
    let names: BTreeSet<&String> = local.keys().chain(current.files.keys()).collect();
    let mut out = format!("against version {}:\n", current.version);
    let mut changes = 0;
    for name in names {
        match (local.get(name), current.files.get(name)) {
            (Some(_), None) => {
                changes += 1;
                let _ = writeln!(out, "added    {name}");
            }
            (None, Some(_)) => {
                changes += 1;
                let _ = writeln!(out, "removed  {name}");
            }
            (Some(new), Some(sha)) if super::manifest::digest(new) != *sha => {
                changes += 1;
                let _ = writeln!(out, "changed  {name}");
                let old = kv.get(&keys::blob(sha)).await.map_err(|e| e.to_string())?;
                let old = old.map(|e| e.value).unwrap_or_default();
                match (std::str::from_utf8(&old), std::str::from_utf8(new)) {
                    (Ok(a), Ok(b)) => {
                        let d = similar::TextDiff::from_lines(a, b);
                        let _ = write!(
                            out,
                            "{}",
                            d.unified_diff().context_radius(2).header(
                                &format!("v{}/{name}", current.version),
                                &format!("local/{name}")
                            )
                        );
                    }
                    _ => out.push_str("  (binary)\n"),
                }
            }
            _ => {}
        }
    }
    if changes == 0 {
        out.push_str("no changes\n");
    }
    Ok(out)
}
