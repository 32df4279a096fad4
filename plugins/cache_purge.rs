//! `cache-purge`: content phase; `POST ?cache=NAME&key=K` or `POST ?cache=NAME&prefix=P`
//! purges a key or every key under a prefix from a `[caches.NAME]` engine.
//!
//! The engine drops the entries from this node's L1 first, then deletes them in Redis and
//! broadcasts the purge over pub/sub so that every node drops them from its L1. Keys are
//! the engine's keys (without the Redis `key_prefix`, which the engine adds).
//!
//! Answers (JSON): 200 `{"cache","key"|"prefix","purged":true,"scope",..}`; 400 on a
//! missing, repeated or unknown parameter, on both or neither of `key`/`prefix`, or on an
//! unknown cache (the known ones are listed); 405 on anything but POST; 502 when Redis
//! could not be reached — the local L1 was purged anyway, but Redis and the other nodes
//! may still hold the entries, so retry.
//!
//! ```toml
//! { name = "cache-purge" }
//! ```

use std::sync::Arc;

use edgeproxy::async_trait;
use edgeproxy::cache::TieredCache;
use edgeproxy::plugin_api::{
    BoxError, Caches, Plugin, PluginFactory, RequestCtx, Response, Shared,
};
use edgeproxy::RequestHeader;
use serde::{Deserialize, Serialize};

use super::admin_response;

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
}

/// The JSON answer.
#[derive(Serialize)]
struct Answer<'a> {
    cache: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    key: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    prefix: Option<&'a str>,
    /// True when Redis and every node's L1 were reached (or there is no Redis).
    purged: bool,
    /// `all-nodes` (Redis + broadcast) or `this-node` (no Redis configured).
    scope: &'static str,
    /// Redis keys deleted by a prefix purge.
    #[serde(skip_serializing_if = "Option::is_none")]
    redis_keys_deleted: Option<u64>,
    /// Why the purge did not reach Redis.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
    let (mut cache, mut key, mut prefix) = (None, None, None);
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let slot = match name.as_ref() {
            "cache" => &mut cache,
            "key" => &mut key,
            "prefix" => &mut prefix,
            other => {
                return Err(BadPurge(format!(
                    "unknown parameter `{other}`; use cache=NAME and key=K or prefix=P"
                )))
            }
        };
        if slot.replace(value.into_owned()).is_some() {
            return Err(BadPurge(format!("parameter `{name}` given more than once")));
        }
    }
    let cache = cache.ok_or("missing parameter `cache`")?;
    let target = match (key, prefix) {
        (Some(k), None) if !k.is_empty() => Target::Key(k),
        (None, Some(p)) if !p.is_empty() => Target::Prefix(p),
        (Some(_), None) => return Err("`key` must not be empty".into()),
        (None, Some(_)) => return Err("`prefix` must not be empty".into()),
        (None, None) => return Err("give `key=K` or `prefix=P`".into()),
        (Some(_), Some(_)) => return Err("give `key` or `prefix`, not both".into()),
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
        let (key, prefix, result) = match &req.target {
            Target::Key(k) => (Some(k.as_str()), None, cache.purge(k).await.map(|()| None)),
            Target::Prefix(p) => (
                None,
                Some(p.as_str()),
                cache.purge_prefix(p).await.map(Some),
            ),
        };
        let scope = if cache.has_redis() {
            "all-nodes"
        } else {
            "this-node"
        };
        let mut answer = Answer {
            cache: &req.cache,
            key,
            prefix,
            purged: true,
            scope,
            redis_keys_deleted: None,
            error: None,
        };
        match result {
            Ok(deleted) => {
                answer.redis_keys_deleted = deleted.filter(|_| cache.has_redis());
                admin_response::json(200, &answer)
            }
            Err(e) => {
                tracing::warn!(cache = %req.cache, error = %e, "cache-purge: Redis not reached");
                answer.purged = false;
                answer.scope = "this-node";
                answer.error = Some(format!(
                    "{e}; this node's L1 was purged, Redis and the other nodes may still hold it: retry"
                ));
                admin_response::json(502, &answer)
            }
        }
    }
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
