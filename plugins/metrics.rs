//! `metrics`: content phase; the Prometheus text exposition of every metric on
//! `prometheus::default_registry()` (requests and their duration by server and route,
//! aborted requests, upstream responses and their time, connect failures, hash-key
//! fallbacks, cache lookups by cache and answering level, Redis errors, breaker state).
//!
//! ```toml
//! { name = "metrics" }
//! ```

use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Plugin, PluginFactory, RequestCtx, Response, Shared};
use prometheus::{Encoder, TextEncoder};
use serde::Deserialize;

use crate::support::admin_response;

/// Config of the `metrics` plugin (no options yet; unknown keys are rejected).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {}

/// The `metrics` plugin.
pub struct Metrics;

/// The default registry in the Prometheus text format (`text/plain; version=0.0.4`).
pub fn render() -> Result<(Vec<u8>, String), BoxError> {
    let encoder = TextEncoder::new();
    let mut body = Vec::new();
    encoder.encode(&prometheus::default_registry().gather(), &mut body)?;
    Ok((body, encoder.format_type().to_string()))
}

impl PluginFactory for Metrics {
    const NAME: &'static str = "metrics";
    type Config = MetricsConfig;

    fn build(_cfg: MetricsConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        Ok(Arc::new(Metrics))
    }
}

#[async_trait]
impl Plugin for Metrics {
    async fn content(
        &self,
        req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        if let Some(resp) = admin_response::check_method(req, &["GET", "HEAD"])? {
            return Ok(Some(resp));
        }
        let (body, content_type) = render()?;
        Ok(Some(
            Response::new(200)?
                .with_header("content-type", &content_type)?
                .with_header("cache-control", "no-store")?
                .with_body(body),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn exposes_the_default_registry_as_prometheus_text() {
        edgeproxy::kit::metrics::inc(&edgeproxy::kit::metrics::REQUESTS, &["unit", "/", "2xx"]);
        let req = RequestHeader::build("GET", b"/metrics", None).unwrap();
        let resp = Metrics
            .content(&req, &mut RequestCtx::for_test())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), 200);
        assert_eq!(
            resp.header.headers["content-type"],
            "text/plain; version=0.0.4"
        );
        let text = String::from_utf8(resp.body.to_vec()).unwrap();
        assert!(
            text.contains("# TYPE edgeproxy_requests_total counter"),
            "{text}"
        );
        assert!(
            text.contains("edgeproxy_requests_total{route=\"/\",server=\"unit\",status=\"2xx\"}"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn post_is_405() {
        let req = RequestHeader::build("POST", b"/metrics", None).unwrap();
        let resp = Metrics
            .content(&req, &mut RequestCtx::for_test())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(resp.status(), 405);
        assert_eq!(resp.header.headers["allow"], "GET, HEAD");
    }
}
