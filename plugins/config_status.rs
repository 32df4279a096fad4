//! `config-status`: content phase; JSON of the configuration in force (reload in place):
//! its generation, when and from which file (and its hash) it was loaded, which long-lived
//! parts the last reload carried over and which it built new, and the last refused reload.
//! Put it on the admin listener behind `admin-token`, as the other status routes.
//!
//! ```toml
//! { name = "config-status" }
//! ```
//!
//! ```json
//! {"generation": 3, "loaded_at_unix": 1796000000, "file": "/etc/edgeproxy/edgeproxy.toml",
//!  "file_hash": "9f1c…", "kept": ["cache/main", "upstream/app"], "built": ["plugin/…"],
//!  "last_refused": {"at_unix": 1796000100, "error": "…"}}
//! ```

use std::sync::Arc;

use edgeproxy::kit::{async_trait, config_status, RequestHeader};
use edgeproxy::kit::{BoxError, Plugin, PluginFactory, RequestCtx, Response, Shared};
use serde::Deserialize;

use crate::support::admin_response;

/// Config of the `config-status` plugin (no options; unknown keys are rejected).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigStatusConfig {}

/// The `config-status` plugin.
pub struct ConfigStatusPlugin;

impl PluginFactory for ConfigStatusPlugin {
    const NAME: &'static str = "config-status";
    type Config = ConfigStatusConfig;

    fn build(_cfg: ConfigStatusConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        Ok(Arc::new(ConfigStatusPlugin))
    }
}

#[async_trait]
impl Plugin for ConfigStatusPlugin {
    async fn content(
        &self,
        req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        match config_status() {
            Some(status) => admin_response::status_document(req, || (*status).clone()),
            None => admin_response::error(503, "no server runs in this process").map(Some),
        }
    }
}
