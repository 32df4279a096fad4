//! `redirect` (rewrite phase): answers with a redirect to the same host, path and query on
//! another scheme, port or host — nginx's `return 301 https://$host$request_uri;`.
//!
//! ```toml
//! { name = "redirect" }                                    # 301 to https://$host$request_uri
//! { name = "redirect", config = { status = 308, port = 8443 } }
//! { name = "redirect", config = { scheme = "https", host = "www.example.com" } }
//! ```
//!
//! The path and query are the request's after conformance (normalized, as routes see them)
//! and after any rewrite that ran before this plugin. A request already on the target
//! scheme (and host, when one is set) passes on, so the plugin can sit on a server block
//! that listens for both HTTP and HTTPS without looping. HSTS is a response header: add
//! it with `response-headers` (docs/edge.md).

use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::host_name;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Flow, Plugin, PluginFactory, RequestCtx, Response, Shared};
use serde::Deserialize;

/// Config of the `redirect` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedirectConfig {
    /// `https` (default) or `http`.
    #[serde(default = "default_scheme")]
    pub scheme: String,
    /// 301 (default), 302, 303, 307 or 308. 307/308 keep the method and body of a POST.
    #[serde(default = "default_status")]
    pub status: u16,
    /// The port in the new URL (left out when it is the scheme's default).
    pub port: Option<u16>,
    /// A fixed host instead of the request's (e.g. the canonical name).
    pub host: Option<String>,
}

fn default_scheme() -> String {
    "https".into()
}

fn default_status() -> u16 {
    301
}

/// The `redirect` plugin.
pub struct Redirect {
    https: bool,
    status: u16,
    /// `:port`, or empty for the scheme's default port.
    port: String,
    host: Option<String>,
}

impl PluginFactory for Redirect {
    const NAME: &'static str = "redirect";
    type Config = RedirectConfig;

    fn build(cfg: RedirectConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let https = match cfg.scheme.as_str() {
            "https" => true,
            "http" => false,
            other => {
                return Err(format!("`scheme` must be \"https\" or \"http\", not {other:?}").into())
            }
        };
        if ![301, 302, 303, 307, 308].contains(&cfg.status) {
            return Err(format!(
                "`status` must be 301, 302, 303, 307 or 308, not {}",
                cfg.status
            )
            .into());
        }
        let port = match (cfg.port, https) {
            (None, _) | (Some(443), true) | (Some(80), false) => String::new(),
            (Some(0), _) => return Err("`port` must be 1..=65535".into()),
            (Some(p), _) => format!(":{p}"),
        };
        let host = match cfg.host {
            None => None,
            Some(h) => match host_name(h.as_bytes()) {
                Ok(n) if n == h.to_ascii_lowercase() => Some(n),
                _ => return Err(format!("`host` {h:?} must be a host name, without port").into()),
            },
        };
        Ok(Arc::new(Redirect {
            https,
            status: cfg.status,
            port,
            host,
        }))
    }
}

#[async_trait]
impl Plugin for Redirect {
    async fn rewrite(
        &self,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<Flow, BoxError> {
        let asked = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| host_name(h.as_bytes()).ok());
        if ctx.https == self.https && (self.host.is_none() || self.host == asked) {
            return Ok(Flow::Continue);
        }
        let Some(to) = self.host.as_ref().or(asked.as_ref()) else {
            return Ok(Flow::Respond(Response::text(
                400,
                "400 no host to redirect to\n",
            )?));
        };
        let scheme = if self.https { "https" } else { "http" };
        let rest = req.uri.path_and_query().map_or("/", |pq| pq.as_str());
        let location = format!("{scheme}://{to}{}{rest}", self.port);
        let reason = http::StatusCode::from_u16(self.status)?
            .canonical_reason()
            .unwrap_or("Redirect");
        let resp = Response::text(self.status, format!("{} {reason}\n", self.status))?
            .with_header("location", &location)?;
        Ok(Flow::Respond(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_shared;

    fn plugin(cfg: RedirectConfig) -> Arc<dyn Plugin> {
        Redirect::build(cfg, &test_shared()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn cfg(status: u16, port: Option<u16>, host: Option<&str>) -> RedirectConfig {
        RedirectConfig {
            scheme: "https".into(),
            status,
            port,
            host: host.map(String::from),
        }
    }

    async fn run(
        p: &Arc<dyn Plugin>,
        host: Option<&str>,
        target: &str,
        https: bool,
    ) -> Option<(u16, String)> {
        let mut req = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
        if let Some(h) = host {
            req.insert_header("host", h).unwrap();
        }
        let mut ctx = RequestCtx::for_test();
        ctx.https = https;
        match p.rewrite(&mut req, &mut ctx).await.unwrap() {
            Flow::Continue => None,
            Flow::Respond(r) => {
                let loc = r
                    .header
                    .headers
                    .get("location")
                    .map(|v| v.to_str().unwrap().to_string());
                Some((r.status(), loc.unwrap_or_default()))
            }
        }
    }

    #[tokio::test]
    async fn keeps_host_path_and_query() {
        let p = plugin(cfg(301, None, None));
        let got = run(&p, Some("Shop.Example.com:8080"), "/a/b?x=1&y=%20", false).await;
        assert_eq!(
            got,
            Some((301, "https://shop.example.com/a/b?x=1&y=%20".into()))
        );
        assert_eq!(
            run(&p, Some("[::1]:80"), "/", false).await,
            Some((301, "https://[::1]/".into()))
        );
        // Already HTTPS: passes.
        assert_eq!(run(&p, Some("shop.example.com"), "/", true).await, None);
        assert_eq!(run(&p, None, "/", false).await.map(|r| r.0), Some(400));
    }

    #[tokio::test]
    async fn port_status_and_fixed_host() {
        let p = plugin(cfg(308, Some(8443), None));
        assert_eq!(
            run(&p, Some("a.test"), "/p", false).await,
            Some((308, "https://a.test:8443/p".into()))
        );
        let p = plugin(cfg(301, Some(443), Some("www.a.test")));
        assert_eq!(
            run(&p, Some("a.test"), "/p", true).await,
            Some((301, "https://www.a.test/p".into()))
        );
        assert_eq!(run(&p, Some("www.a.test"), "/p", true).await, None);
    }

    #[test]
    fn bad_configs_are_refused() {
        let err = |c: RedirectConfig| {
            Redirect::build(c, &test_shared())
                .err()
                .map(|e| e.to_string())
        };
        assert!(err(cfg(200, None, None)).unwrap().contains("`status`"));
        assert!(err(cfg(301, Some(0), None)).unwrap().contains("`port`"));
        assert!(err(cfg(301, None, Some("a.test:80")))
            .unwrap()
            .contains("`host`"));
        let mut ftp = cfg(301, None, None);
        ftp.scheme = "ftp".into();
        assert!(err(ftp).unwrap().contains("`scheme`"));
    }
}
