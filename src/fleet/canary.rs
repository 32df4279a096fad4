//! `config push --canary … --promote-after D`: wait for the canary nodes to apply the
//! version, watch their 5xx share for `D`, then promote — or withdraw the canary (its nodes
//! go back to the current version) when a node refused it, nobody reported, or the share
//! rose by more than the tolerance.

use std::time::Duration;

use super::kv::{Kv, Op};
use super::manifest::{keys, NodeStatus};
use super::publish::{live, promote};

/// How long the canary nodes get to apply the version.
const APPLY_WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(500);

async fn canary_nodes(kv: &Kv, targets: &[String]) -> Result<Vec<NodeStatus>, String> {
    let (entries, _) = kv.list(keys::STATUS, 0).await.map_err(|e| e.to_string())?;
    Ok(entries
        .iter()
        .filter_map(|e| serde_json::from_slice::<NodeStatus>(&e.value).ok())
        .filter(|s| targets.iter().any(|t| *t == s.node || s.tags.contains(t)))
        .collect())
}

async fn withdraw(kv: &Kv, version: u64, why: String) -> Result<String, String> {
    let live = live(kv).await?;
    if let Some((e, m)) = live.canary.filter(|(_, m)| m.version == version) {
        kv.txn(&[Op::DeleteCas(keys::CANARY.into(), e.modify_index)])
            .await
            .map_err(|e| e.to_string())?;
        return Err(format!(
            "canary version {} withdrawn (its nodes go back to the current version): {why}",
            m.version
        ));
    }
    Err(format!("canary version {version} not promoted: {why}"))
}

fn totals(nodes: &[NodeStatus]) -> (u64, u64) {
    nodes
        .iter()
        .fold((0, 0), |(r, e), s| (r + s.requests, e + s.errors_5xx))
}

/// Judges canary `version` aimed at `targets` over `window`; promotes it when it passes.
pub async fn judge(
    kv: &Kv,
    version: u64,
    targets: &[String],
    window: Duration,
    tolerance: f64,
) -> Result<String, String> {
    let deadline = tokio::time::Instant::now() + APPLY_WAIT;
    let before = loop {
        let nodes = canary_nodes(kv, targets).await?;
        if let Some(r) = nodes
            .iter()
            .find(|s| s.refused.as_ref().is_some_and(|r| r.version == version))
        {
            let why = r
                .refused
                .as_ref()
                .map_or(String::new(), |r| r.error.clone());
            return withdraw(kv, version, format!("node {} refused it: {why}", r.node)).await;
        }
        if !nodes.is_empty() && nodes.iter().all(|s| s.version == version) {
            break nodes;
        }
        if tokio::time::Instant::now() >= deadline {
            let why = match nodes.is_empty() {
                true => "no node with those names or tags reported".to_string(),
                false => format!("not applied by every canary node within {APPLY_WAIT:?}"),
            };
            return withdraw(kv, version, why).await;
        }
        tokio::time::sleep(POLL).await;
    };
    tokio::time::sleep(window).await;
    let after = canary_nodes(kv, targets).await?;
    let (r0, e0) = totals(&before);
    let (r1, e1) = totals(&after);
    if after.iter().any(|s| s.version != version) {
        return withdraw(kv, version, "a canary node left the version".into()).await;
    }
    let (requests, errors) = (r1.saturating_sub(r0), e1.saturating_sub(e0));
    if requests == 0 {
        return withdraw(
            kv,
            version,
            format!("no requests reached the canary nodes in {window:?}"),
        )
        .await;
    }
    let share_before = if r0 == 0 { 0.0 } else { e0 as f64 / r0 as f64 };
    let share = errors as f64 / requests as f64;
    let verdict = format!(
        "5xx share {:.2} % over {requests} requests in {window:?} (before: {:.2} %)",
        100.0 * share,
        100.0 * share_before
    );
    if share > share_before + tolerance {
        return withdraw(
            kv,
            version,
            format!(
                "{verdict}: rose by more than {:.2} points",
                100.0 * tolerance
            ),
        )
        .await;
    }
    Ok(format!("canary {verdict}\n{}", promote(kv).await?))
}
