//! `hot-status`: content phase; JSON of the hot-key state of every upstream group with a
//! `[upstreams.NAME.hot]` table: the hot set (key, cluster-wide rate and share, since
//! when, which nodes report it, whether it is served from the first hop), this node's
//! heaviest keys, the thresholds, and the first-hop store's use.
//!
//! ```toml
//! { name = "hot-status" }
//! ```
//!
//! ```json
//! {"node": "dist-1", "groups": {"app": {"node": "dist-1", "spread": true, "prewarm": true,
//!   "thresholds": {"window_ms": 1000, "min_rate": 50.0, "min_share": 0.05, ...},
//!   "cluster_rate": 2410.0, "nodes_reporting": 2,
//!   "hot": [{"key": "42", "rate": 730.5, "share": 0.303, "since_unix_ms": 1733100000123,
//!            "nodes": [["dist-1", 366.0], ["dist-2", 364.5]], "edge": true}],
//!   "local_top": [["42", 366.0], ["7", 40.0]],
//!   "edge": {"entries": 3, "bytes": 20480, "capacity": 67108864, "ttl_ms": 2000, "serving": true}}}}
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Plugin, PluginFactory, RequestCtx, Response, Shared};
use edgeproxy::kit::{GroupStatus, HotGroups};
use serde::{Deserialize, Serialize};

use crate::support::admin_response;

/// Config of the `hot-status` plugin (no options yet; unknown keys are rejected).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HotStatusConfig {}

/// The `hot-status` plugin.
pub struct HotStatus {
    node: Arc<str>,
    hot: HotGroups,
}

/// The whole answer.
#[derive(Serialize)]
pub struct HotDoc {
    /// This node's name.
    pub node: String,
    /// Every group with hot-key handling, by name.
    pub groups: BTreeMap<String, GroupStatus>,
}

impl PluginFactory for HotStatus {
    const NAME: &'static str = "hot-status";
    type Config = HotStatusConfig;

    fn build(_cfg: HotStatusConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        Ok(Arc::new(HotStatus {
            node: shared.node_name.clone(),
            hot: shared.hot.clone(),
        }))
    }
}

impl HotStatus {
    /// The document now.
    pub fn document(&self) -> HotDoc {
        HotDoc {
            node: self.node.to_string(),
            groups: self
                .hot
                .iter()
                .map(|(name, g)| (name.clone(), g.status()))
                .collect(),
        }
    }
}

#[async_trait]
impl Plugin for HotStatus {
    async fn content(
        &self,
        req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        admin_response::status_document(req, || self.document())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn without_hot_groups_the_document_is_empty_and_post_is_405() {
        let p = HotStatus::build(HotStatusConfig {}, &crate::test_shared()).unwrap();
        let get = RequestHeader::build("GET", b"/status/hot", None).unwrap();
        let r = p
            .content(&get, &mut RequestCtx::for_test())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&r.body[..], b"{\"node\":\"test-node\",\"groups\":{}}\n");
        let post = RequestHeader::build("POST", b"/status/hot", None).unwrap();
        let r = p
            .content(&post, &mut RequestCtx::for_test())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(r.status(), 405);
    }
}
