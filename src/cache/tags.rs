//! Purge by tag: the response cache stores objects tagged by their origin
//! (`Surrogate-Key` / `Cache-Tag`) and indexes them (per node, and in Redis for the whole
//! cluster); a purge by tag asks the indexes for the keys and purges each key the usual
//! way (Redis delete, confirmed broadcast to every node's L1 and first-hop store).

use std::sync::Arc;

use async_trait::async_trait;

use super::engine::TieredCache;
use super::purge::PurgeError;

/// Names the cache keys stored with a tag (registered on an engine by the response cache).
#[async_trait]
pub trait TagIndex: Send + Sync {
    /// The keys tagged `tag`, forgetting the tag (they are about to be purged); an error
    /// when the shared index could not be read (then the purge is incomplete).
    async fn tagged(&self, tag: &str) -> Result<Vec<String>, String>;
}

/// What a purge by tag reached.
#[derive(Debug, Default)]
pub struct TagPurgeReport {
    /// The keys found under the tag (each purged on every node).
    pub keys: Vec<String>,
    /// Keys whose purge failed a step (their own report's first error).
    pub failed: Vec<PurgeError>,
    /// Why the shared index could not be read, if it could not.
    pub index_error: Option<String>,
}

impl TagPurgeReport {
    /// Whether every key was found and purged everywhere.
    pub fn complete(&self) -> bool {
        self.failed.is_empty() && self.index_error.is_none()
    }
}

impl TieredCache {
    /// Purges every key stored with `tag`, like [`purge`](Self::purge) for each. The tag
    /// itself is purged as a key too, so a first-hop store holding responses tagged with it
    /// (`Surrogate-Key`) drops them.
    pub async fn purge_tag(&self, tag: &str) -> TagPurgeReport {
        let mut report = TagPurgeReport::default();
        let indexes: Arc<Vec<Arc<dyn TagIndex>>> = self.tag_indexes();
        for index in indexes.iter() {
            match index.tagged(tag).await {
                Ok(keys) => report.keys.extend(keys),
                Err(e) => report.index_error = Some(e),
            }
        }
        report.keys.sort();
        report.keys.dedup();
        let purges = report.keys.iter().map(|k| self.purge(k));
        let tag_itself = self.purge(tag);
        let (results, own) = futures::join!(futures::future::join_all(purges), tag_itself);
        for r in results.into_iter().chain([own]) {
            if let Some(e) = r.errors().next() {
                report.failed.push(e.clone());
            }
        }
        report
    }
}
