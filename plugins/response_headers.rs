//! `response-headers`: header filter adding, setting and removing response headers, on
//! proxied and locally produced responses alike.
//!
//! ```toml
//! { name = "response-headers", config = { add = { "x-served-by" = "edge-1" }, remove = ["server"] } }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::ResponseHeader;
use edgeproxy::kit::{BoxError, Plugin, PluginFactory, RequestCtx, Shared};
use http::{HeaderName, HeaderValue};
use serde::Deserialize;

/// Config of the `response-headers` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResponseHeadersConfig {
    /// Headers appended (kept beside existing values).
    #[serde(default)]
    pub add: BTreeMap<String, String>,
    /// Headers set (replacing existing values).
    #[serde(default)]
    pub set: BTreeMap<String, String>,
    /// Headers removed.
    #[serde(default)]
    pub remove: Vec<String>,
}

/// The `response-headers` plugin.
pub struct ResponseHeaders {
    add: Vec<(HeaderName, HeaderValue)>,
    set: Vec<(HeaderName, HeaderValue)>,
    remove: Vec<HeaderName>,
}

fn pairs(map: BTreeMap<String, String>) -> Result<Vec<(HeaderName, HeaderValue)>, BoxError> {
    map.into_iter()
        .map(|(k, v)| Ok((HeaderName::try_from(k)?, HeaderValue::try_from(v)?)))
        .collect()
}

impl PluginFactory for ResponseHeaders {
    const NAME: &'static str = "response-headers";
    type Config = ResponseHeadersConfig;

    fn build(cfg: ResponseHeadersConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        Ok(Arc::new(ResponseHeaders {
            add: pairs(cfg.add)?,
            set: pairs(cfg.set)?,
            remove: cfg
                .remove
                .into_iter()
                .map(HeaderName::try_from)
                .collect::<Result<_, _>>()?,
        }))
    }
}

#[async_trait]
impl Plugin for ResponseHeaders {
    fn header_filter(
        &self,
        resp: &mut ResponseHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<(), BoxError> {
        for name in &self.remove {
            resp.remove_header(name);
        }
        for (k, v) in &self.set {
            resp.insert_header(k.clone(), v.clone())?;
        }
        for (k, v) in &self.add {
            resp.append_header(k.clone(), v.clone())?;
        }
        Ok(())
    }
}
