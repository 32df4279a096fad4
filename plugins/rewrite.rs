//! `rewrite`: regex URI rewrite with captures, and request header set/remove (rewrite phase).
//!
//! ```toml
//! { name = "rewrite", config = { regex = "^/old/(.*)$", replacement = "/new/$1",
//!   set_headers = { "x-from" = "edge" }, remove_headers = ["cookie"] } }
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Flow, Plugin, PluginFactory, RequestCtx, Shared};
use regex::Regex;
use serde::Deserialize;

/// Config of the `rewrite` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RewriteConfig {
    /// Regex matched against the path (query string kept unless the replacement has one).
    pub regex: Option<String>,
    /// Replacement with `$1`/`${name}` captures.
    pub replacement: Option<String>,
    /// Request headers to set (replace).
    #[serde(default)]
    pub set_headers: BTreeMap<String, String>,
    /// Request headers to remove.
    #[serde(default)]
    pub remove_headers: Vec<String>,
}

/// The `rewrite` plugin.
pub struct Rewrite {
    rule: Option<(Regex, String)>,
    set_headers: Vec<(http::HeaderName, http::HeaderValue)>,
    remove_headers: Vec<http::HeaderName>,
}

impl PluginFactory for Rewrite {
    const NAME: &'static str = "rewrite";
    type Config = RewriteConfig;

    fn build(cfg: RewriteConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let rule = match (cfg.regex, cfg.replacement) {
            (Some(re), Some(rep)) => Some((Regex::new(&re)?, rep)),
            (None, None) => None,
            _ => return Err("`regex` and `replacement` go together".into()),
        };
        let mut set_headers = Vec::new();
        for (k, v) in cfg.set_headers {
            set_headers.push((
                http::HeaderName::try_from(k)?,
                http::HeaderValue::try_from(v)?,
            ));
        }
        let remove_headers = cfg
            .remove_headers
            .into_iter()
            .map(http::HeaderName::try_from)
            .collect::<Result<_, _>>()?;
        Ok(Arc::new(Rewrite {
            rule,
            set_headers,
            remove_headers,
        }))
    }
}

#[async_trait]
impl Plugin for Rewrite {
    async fn rewrite(
        &self,
        req: &mut RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Flow, BoxError> {
        if let Some((re, rep)) = &self.rule {
            let path = req.uri.path();
            if re.is_match(path) {
                let new_path = re.replace(path, rep.as_str()).into_owned();
                let target = match (new_path.contains('?'), req.uri.query()) {
                    (false, Some(q)) => format!("{new_path}?{q}"),
                    _ => new_path,
                };
                req.set_uri(target.parse::<http::Uri>()?);
            }
        }
        for name in &self.remove_headers {
            req.remove_header(name);
        }
        for (k, v) in &self.set_headers {
            req.insert_header(k.clone(), v.clone())?;
        }
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(regex: &str, rep: &str) -> Arc<dyn Plugin> {
        let cfg = RewriteConfig {
            regex: Some(regex.into()),
            replacement: Some(rep.into()),
            set_headers: BTreeMap::from([("x-from".into(), "edge".into())]),
            remove_headers: vec!["cookie".into()],
        };
        let shared = crate::test_shared();
        Rewrite::build(cfg, &shared).unwrap()
    }

    #[tokio::test]
    async fn rewrites_path_keeps_query_and_edits_headers() {
        let p = build("^/old/(.*)$", "/new/$1");
        let mut req = RequestHeader::build("GET", b"/old/a/b?x=1", None).unwrap();
        req.insert_header("cookie", "a=b").unwrap();
        p.rewrite(&mut req, &mut RequestCtx::for_test())
            .await
            .unwrap();
        assert_eq!(req.uri.to_string(), "/new/a/b?x=1");
        assert!(req.headers.get("cookie").is_none());
        assert_eq!(req.headers.get("x-from").unwrap(), "edge");
    }

    #[tokio::test]
    async fn non_matching_path_is_untouched() {
        let p = build("^/old/(.*)$", "/new/$1");
        let mut req = RequestHeader::build("GET", b"/other", None).unwrap();
        p.rewrite(&mut req, &mut RequestCtx::for_test())
            .await
            .unwrap();
        assert_eq!(req.uri.to_string(), "/other");
    }
}
