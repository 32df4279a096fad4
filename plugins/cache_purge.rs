//! `cache-purge`: content phase; `POST ?cache=NAME&key=K`, `POST ?cache=NAME&prefix=P` or
//! `POST ?cache=NAME&tag=T` purges a key, every key under a prefix, or every response the
//! origin tagged `T` (`Surrogate-Key` / `Cache-Tag`, response cache only) from a
//! `[caches.NAME]` engine and its response cache.
//!
//! The engine drops the entries from this node's L1 first, then deletes them in Redis and
//! broadcasts the purge over pub/sub so that every node drops them from its L1. Keys are
//! the engine's keys (without the Redis `key_prefix`, which the engine adds).
//!
//! Answers (JSON): 200 `{"cache","key"|"prefix","purged":true,"scope","steps",..}`; 400 on
//! a missing, repeated or unknown parameter, on not exactly one of `key`/`prefix`/`tag`, or on an
//! unknown cache (the known ones are listed); 405 on anything but POST; 502 when a Redis
//! step failed — `steps` says which (`redis_delete`, `broadcast`: `done` or `failed`; the
//! broadcast is sent even when the delete failed), `error` says why and what may still
//! hold the entries, so retry. The whole purge answers within the cache's `purge_timeout`.
//!
//! ```toml
//! { name = "cache-purge" }
//! ```

use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Caches, Plugin, PluginFactory, RequestCtx, Response, Shared};
use edgeproxy::kit::{PurgeError, PurgeReport, TagPurgeReport, TieredCache};
use serde::{Deserialize, Serialize};

use crate::support::admin_response;

/// Config of the `cache-purge` plugin (no options yet; unknown keys are rejected).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CachePurgeConfig {}

/// The `cache-purge` plugin.
pub struct CachePurge {
    caches: Caches,
}

/// What to purge, parsed from the query string.
#[derive(Debug, PartialEq, Eq)]
pub struct PurgeRequest {
    /// Cache name (`[caches.NAME]`).
    pub cache: String,
    /// One key, or every key starting with a prefix.
    pub target: Target,
}

/// One key or a prefix.
#[derive(Debug, PartialEq, Eq)]
pub enum Target {
    /// `key=K`.
    Key(String),
    /// `prefix=P` (never empty: purging everything is not offered).
    Prefix(String),
    /// `tag=T`: every response stored with tag `T`.
    Tag(String),
}

/// The JSON answer.
#[derive(Serialize)]
struct Answer<'a> {
    cache: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<&'a str>,
    /// True when every step succeeded.
    purged: bool,
    /// `all-nodes` (the broadcast went out) or `this-node` (no Redis, or it failed).
    scope: &'static str,
    /// Redis keys deleted by a prefix purge.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_keys_deleted: Option<u64>,
    /// Outcome of each step.
    steps: Steps,
    /// What failed, and what may still hold the entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Outcome of each step of a purge: `done`, `failed`, or `skipped` (no Redis).
#[derive(Serialize)]
struct Steps {
    local_l1: &'static str,
    redis_delete: &'static str,
    broadcast: &'static str,
}

fn outcome(step: &Option<Result<(), PurgeError>>) -> &'static str {
    match step {
        None => "skipped",
        Some(Ok(())) => "done",
        Some(Err(_)) => "failed",
    }
}

/// What a failed purge left behind, for the `error` text.
fn consequence(report: &PurgeReport) -> &'static str {
    match (
        matches!(report.redis_delete, Some(Ok(()))),
        matches!(report.broadcast, Some(Ok(()))),
    ) {
        (false, true) => {
            "every node was told to drop it from L1, but Redis may still hold it (and nodes may reload it from there): retry"
        }
        (true, false) => {
            "Redis no longer holds it, but the other nodes were not told and may serve their L1 copy until it expires: retry"
        }
        _ => "only this node's L1 was purged; Redis and the other nodes may still hold it: retry",
    }
}

/// A purge request the admin API refuses with 400; the message says what to send instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadPurge(String);

impl From<&str> for BadPurge {
    fn from(message: &str) -> Self {
        BadPurge(message.to_string())
    }
}

/// Parses `cache`, `key`, `prefix` from a query string.
pub fn parse_query(query: &str) -> Result<PurgeRequest, BadPurge> {
    let (mut cache, mut key, mut prefix, mut tag) = (None, None, None, None);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "cache" => &mut cache,
            "key" => &mut key,
            "prefix" => &mut prefix,
            "tag" => &mut tag,
            other => {
                return Err(BadPurge(format!(
                    "unknown parameter `{other}`; use cache=NAME and key=K, prefix=P or tag=T"
                )))
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(BadPurge(format!("parameter `{name}` given more than once")));
        }
    }
    let cache = cache.ok_or("missing parameter `cache`")?;
    let target = match (key, prefix, tag) {
        (Some(k), None, None) if !k.is_empty() => Target::Key(k),
        (None, Some(p), None) if !p.is_empty() => Target::Prefix(p),
        (None, None, Some(t)) if !t.is_empty() => Target::Tag(t),
        (Some(_), None, None) => return Err("`key` must not be empty".into()),
        (None, Some(_), None) => return Err("`prefix` must not be empty".into()),
        (None, None, Some(_)) => return Err("`tag` must not be empty".into()),
        (None, None, None) => return Err("give `key=K` or `prefix=P` (or `tag=T`)".into()),
        _ => return Err("give one of `key`, `prefix` or `tag`, not both".into()),
    };
    Ok(PurgeRequest { cache, target })
}

impl CachePurge {
    /// A plugin purging from `caches`.
    pub fn new(caches: Caches) -> Self {
        CachePurge { caches }
    }

    fn known(&self) -> String {
        let names: Vec<&str> = self.caches.keys().map(String::as_str).collect();
        names.join(", ")
    }

    async fn purge(&self, cache: &TieredCache, req: &PurgeRequest) -> Result<Response, BoxError> {
        let (key, prefix, report) = match &req.target {
            Target::Key(k) => (Some(k.as_str()), None, cache.purge(k).await),
            Target::Prefix(p) => (None, Some(p.as_str()), cache.purge_prefix(p).await),
            Target::Tag(t) => return purge_tag(cache, &req.cache, t).await,
        };
        let complete = report.complete();
        let error = (!complete).then(|| {
            let why: Vec<String> = report.errors().map(|e| e.to_string()).collect();
            format!("{}; {}", why.join("; "), consequence(&report))
        });
        if let Some(e) = &error {
            tracing::warn!(cache = %req.cache, error = %e, "cache-purge: incomplete purge");
        }
        let answer = Answer {
            cache: &req.cache,
            key,
            prefix,
            purged: complete,
            scope: match report.broadcast {
                Some(Ok(())) => "all-nodes",
                _ => "this-node",
            },
            redis_keys_deleted: prefix
                .filter(|_| cache.has_redis())
                .map(|_| report.redis_keys_deleted),
            steps: Steps {
                local_l1: "done",
                redis_delete: outcome(&report.redis_delete),
                broadcast: outcome(&report.broadcast),
            },
            error,
        };
        admin_response::json(if complete { 200 } else { 502 }, &answer)
    }
}

/// The JSON answer to a purge by tag.
#[derive(Serialize)]
struct TagAnswer<'a> {
    cache: &'a str,
    tag: &'a str,
    /// True when every tagged key was purged on every node.
    purged: bool,
    /// The cache keys found under the tag (each purged like `key=`).
    keys: &'a [String],
    /// What failed, and what may still hold the responses.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// Purges every response stored with `tag`; 502 (retry) when the shared tag index could
/// not be read or a key's purge failed a step.
async fn purge_tag(cache: &TieredCache, name: &str, tag: &str) -> Result<Response, BoxError> {
    let report: TagPurgeReport = cache.purge_tag(tag).await;
    let complete = report.complete();
    let error = (!complete).then(|| {
        let mut why: Vec<String> = report.failed.iter().map(|e| e.to_string()).collect();
        if let Some(e) = &report.index_error {
            why.push(format!("the shared tag index could not be read ({e})"));
        }
        format!(
            "{}; some nodes may still serve tagged responses: retry",
            why.join("; ")
        )
    });
    if let Some(e) = &error {
        tracing::warn!(cache = %name, tag, error = %e, "cache-purge: incomplete purge by tag");
    }
    let answer = TagAnswer {
        cache: name,
        tag,
        purged: complete,
        keys: &report.keys,
        error,
    };
    admin_response::json(if complete { 200 } else { 502 }, &answer)
}

impl PluginFactory for CachePurge {
    const NAME: &'static str = "cache-purge";
    type Config = CachePurgeConfig;

    fn build(_cfg: CachePurgeConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        if shared.caches.is_empty() {
            return Err("no cache to purge: define a [caches.NAME] section".into());
        }
        Ok(Arc::new(CachePurge::new(shared.caches.clone())))
    }
}

#[async_trait]
impl Plugin for CachePurge {
    async fn content(
        &self,
        req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        if let Some(resp) = admin_response::check_method(req, &["POST"])? {
            return Ok(Some(resp));
        }
        let parsed = match parse_query(req.uri.query().unwrap_or("")) {
            Ok(p) => p,
            Err(msg) => {
                let msg = format!("{msg} (known caches: {})", self.known());
                return admin_response::error(400, &msg).map(Some);
            }
        };
        let Some(cache) = self.caches.get(&parsed.cache) else {
            let msg = format!(
                "unknown cache `{}`; known caches: {}",
                parsed.cache,
                self.known()
            );
            return admin_response::error(400, &msg).map(Some);
        };
        self.purge(cache, &parsed).await.map(Some)
    }
}

#[cfg(test)]
#[path = "cache_purge_tests.rs"]
mod tests;
