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
use edgeproxy::kit::{BoxError, Plugin, PluginFactory, RequestCtx, Response, Shared};
use edgeproxy::kit::{RequestHeader, ResponseHeader};
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

/// Room left in each answer's header maps for what is added after the plugin —
/// `x-request-id`, `Content-Length`, and Pingora's `Date` and connection headers.
const ADDED_LATER: usize = 4;

/// The `respond` plugin. Its headers are checked once; each answer is built with room for
/// the headers added after the plugin: a clone of a prebuilt answer left its maps full, and
/// those later inserts grew them (~2,000 instructions per request, more than building anew).
pub struct Respond {
    status: u16,
    /// Names as configured (the case goes out on HTTP/1) and their values.
    headers: Vec<(Bytes, http::HeaderValue)>,
    body: Bytes,
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
        let mut headers = Vec::with_capacity(cfg.headers.len());
        for (k, v) in cfg.headers {
            http::HeaderName::try_from(k.as_str())?;
            headers.push((Bytes::from(k), http::HeaderValue::try_from(v)?));
        }
        let respond = Respond {
            status: cfg.status,
            headers,
            body,
        };
        respond.answer()?; // what a request would get, built once: any error is a config error
        Ok(Arc::new(respond))
    }
}

impl Respond {
    fn answer(&self) -> Result<Response, BoxError> {
        let room = self.headers.len() + ADDED_LATER;
        let mut header = ResponseHeader::build(self.status, Some(room))?;
        for (name, value) in &self.headers {
            header.append_header(name.clone(), value.clone())?;
        }
        Ok(Response {
            header,
            body: self.body.clone(),
        })
    }
}

#[async_trait]
impl Plugin for Respond {
    async fn content(
        &self,
        _req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        self.answer().map(Some)
    }
}
