//! `respond`: a content-phase plugin answering a fixed status, headers and body (or a file).
//!
//! ```toml
//! { name = "respond", config = { status = 200, body = "ok\n", headers = { "content-type" = "text/plain" } } }
//! { name = "respond", config = { file = "static/index.html" } }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Plugin, PluginFactory, RequestCtx, Response, Shared};
use serde::Deserialize;

/// Config of the `respond` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RespondConfig {
    /// Status code (default 200).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Inline body.
    pub body: Option<String>,
    /// Body read from this file (relative to the config file) at start.
    pub file: Option<String>,
}

fn default_status() -> u16 {
    200
}

/// The `respond` plugin: its answer built once, cloned per request (a clone of two small
/// header maps costs less than parsing and inserting each header again).
pub struct Respond {
    answer: Response,
}

impl PluginFactory for Respond {
    const NAME: &'static str = "respond";
    type Config = RespondConfig;

    fn build(cfg: RespondConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        http::StatusCode::from_u16(cfg.status)
            .map_err(|_| format!("invalid status {}", cfg.status))?;
        let body = match (cfg.body, cfg.file) {
            (Some(b), None) => Bytes::from(b),
            (None, Some(f)) => {
                let path = shared.resolve_path(&f);
                let data = std::fs::read(&path)
                    .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
                Bytes::from(data)
            }
            (None, None) => Bytes::new(),
            (Some(_), Some(_)) => return Err("give `body` or `file`, not both".into()),
        };
        let mut answer = Response::new(cfg.status)?.with_body(body);
        for (k, v) in cfg.headers {
            http::HeaderName::try_from(k.as_str())?;
            http::HeaderValue::try_from(v.as_str())?;
            answer = answer.with_header(&k, &v)?;
        }
        Ok(Arc::new(Respond { answer }))
    }
}

#[async_trait]
impl Plugin for Respond {
    async fn content(
        &self,
        _req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        Ok(Some(Response {
            header: self.answer.header.clone(),
            body: self.answer.body.clone(),
        }))
    }
}
