//! `json-api`: a content-phase plugin that answers `GET <route>?<param>=ID` with the object
//! stored under `ID` in a JSON file (404 when absent, 400 when the parameter is missing).
//! The quickstart's built-in demo origin (`/getProductInfo`, `/getShopInfo`) is made of it.
//!
//! ```toml
//! { name = "json-api", config = { param = "productId", file = "demo/products.json" } }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Plugin, PluginFactory, RequestCtx, Response, Shared};
use serde::Deserialize;

/// Config of the `json-api` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonApiConfig {
    /// Query parameter holding the id.
    pub param: String,
    /// JSON file: an object whose keys are ids (relative to the config file).
    pub file: String,
}

/// The `json-api` plugin.
pub struct JsonApi {
    param: String,
    records: BTreeMap<String, Bytes>,
}

impl PluginFactory for JsonApi {
    const NAME: &'static str = "json-api";
    type Config = JsonApiConfig;

    fn build(cfg: JsonApiConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let path = shared.resolve_path(&cfg.file);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let all: BTreeMap<String, serde_json::Value> = serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a JSON object of records: {e}", path.display()))?;
        let records = all
            .into_iter()
            .map(|(k, v)| Ok((k, Bytes::from(serde_json::to_vec(&v)?))))
            .collect::<Result<_, serde_json::Error>>()?;
        Ok(Arc::new(JsonApi {
            param: cfg.param,
            records,
        }))
    }
}

#[async_trait]
impl Plugin for JsonApi {
    async fn content(
        &self,
        req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        let id = req.uri.query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| *k == self.param)
                .map(|(_, v)| v.into_owned())
        });
        let resp = match id {
            None => Response::text(400, format!("400 missing parameter `{}`\n", self.param))?,
            Some(id) => match self.records.get(&id) {
                Some(body) => Response::new(200)?
                    .with_header("content-type", "application/json")?
                    .with_body(body.clone()),
                None => Response::text(404, "404 no such record\n")?,
            },
        };
        Ok(Some(resp))
    }
}
