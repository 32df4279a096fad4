//! `page`: the application tier's content phase. Validates request parameters, fetches every
//! data source concurrently through a tiered cache (L1 → Redis → origin), and renders a
//! handlebars template. The job of the classic OpenResty product-page script, done better:
//! bad input never reaches a cache key or an origin path, concurrent misses coalesce, one
//! node rebuilds a key while the others wait for Redis, and stale data beats an error page.
//!
//! ```toml
//! { name = "page", config = {
//!     cache = "main", template = "templates/product.hbs",
//!     params = { productId = { pattern = "[0-9]{1,12}" }, shopId = { pattern = "[0-9]{1,12}" } },
//!     sources = [
//!       { name = "product", key = "product_info_{productId}", origin = "origin",
//!         path = "/getProductInfo?productId={productId}", ttl = "10m" },
//!       { name = "shop", key = "shop_info_{shopId}", origin = "origin",
//!         path = "/getShopInfo?shopId={shopId}", ttl = "10m" },
//!     ] } }
//! ```
//! The template sees `params` and one object per source name (`{{product.productName}}`).

mod params;
mod pattern;
mod source;
mod template;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use edgeproxy::cache::{CacheLevel, TieredCache};
use edgeproxy::plugin::{
    de_duration, BoxError, Plugin, PluginFactory, RequestCtx, Response, Shared,
};
use pingora::http::RequestHeader;
use serde::Deserialize;
use serde_json::{Map, Value};

use params::{extract, BadParam, Param, ParamConfig};
use source::{Fetched, Source, SourceConfig};
use template::Template;

/// Config of the `page` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageConfig {
    /// Name of a `[caches.NAME]` section.
    pub cache: String,
    /// Handlebars template file, relative to the config file.
    pub template: String,
    /// Query parameters and their validation rules.
    #[serde(default)]
    pub params: BTreeMap<String, ParamConfig>,
    /// Data sources, fetched concurrently.
    pub sources: Vec<SourceConfig>,
    /// Content-Type of the page.
    #[serde(default = "default_content_type")]
    pub content_type: String,
    /// How often the template file is checked for changes.
    #[serde(default = "default_check", deserialize_with = "de_duration")]
    pub template_check: Duration,
}

fn default_content_type() -> String {
    "text/html; charset=utf-8".to_string()
}

fn default_check() -> Duration {
    Duration::from_secs(1)
}

/// The `page` plugin.
pub struct Page {
    cache: TieredCache,
    params: Vec<Param>,
    sources: Vec<Source>,
    template: Template,
    content_type: String,
}

impl PluginFactory for Page {
    const NAME: &'static str = "page";
    type Config = PageConfig;

    fn build(cfg: PageConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let cache = shared.caches.get(&cfg.cache).cloned().ok_or_else(|| {
            let known: Vec<&str> = shared.caches.keys().map(String::as_str).collect();
            format!(
                "unknown cache `{}` (defined: {})",
                cfg.cache,
                known.join(", ")
            )
        })?;
        let mut params = Vec::new();
        for (name, p) in cfg.params {
            params.push(Param::new(&name, p)?);
        }
        let names: Vec<String> = params.iter().map(|p| p.name().to_string()).collect();
        let mut sources = Vec::new();
        for s in cfg.sources {
            if sources.iter().any(|x: &Source| x.name() == s.name) {
                return Err(format!("source `{}` is declared twice", s.name).into());
            }
            sources.push(Source::new(s, &names, shared)?);
        }
        if sources.is_empty() {
            return Err("a page needs at least one source".into());
        }
        let template = Template::load(shared.resolve_path(&cfg.template), cfg.template_check)?;
        http::HeaderValue::try_from(cfg.content_type.as_str())?;
        Ok(Arc::new(Page {
            cache,
            params,
            sources,
            template,
            content_type: cfg.content_type,
        }))
    }
}

/// The deepest level that answered any source (what `X-Cache` reports).
fn deepest(a: Option<CacheLevel>, b: CacheLevel) -> CacheLevel {
    let rank = |l: CacheLevel| match l {
        CacheLevel::L1 => 0,
        CacheLevel::L2 => 1,
        CacheLevel::Origin => 2,
        CacheLevel::Stale => 3,
    };
    match a {
        Some(a) if rank(a) >= rank(b) => a,
        _ => b,
    }
}

#[async_trait]
impl Plugin for Page {
    async fn content(
        &self,
        req: &RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        let values = match extract(&self.params, req.uri.query()) {
            Ok(v) => v,
            Err(BadParam(why)) => return Ok(Some(Response::text(400, format!("400 {why}\n"))?)),
        };
        let fetched =
            futures::future::join_all(self.sources.iter().map(|s| s.fetch(&self.cache, &values)))
                .await;
        let mut data = Map::new();
        data.insert("params".into(), serde_json::to_value(&values)?);
        let mut level = None;
        for (source, result) in self.sources.iter().zip(fetched) {
            let value = match result {
                Fetched::Value(v, l) => {
                    level = Some(deepest(level, l));
                    v
                }
                Fetched::Missing(l) => {
                    if let Some(l) = l {
                        level = Some(deepest(level, l));
                    }
                    match source.fallback() {
                        Some(f) => f.clone(),
                        None if source.required() => {
                            ctx.cache_level = level;
                            return Ok(Some(self.not_found(source.name(), level)?));
                        }
                        None => Value::Null,
                    }
                }
                Fetched::Failed(why) => {
                    tracing::warn!(request_id = %ctx.request_id, source = source.name(), "{why}");
                    return Ok(Some(Response::text(
                        502,
                        format!(
                            "502 origin unavailable for `{}` and nothing cached\n",
                            source.name()
                        ),
                    )?));
                }
            };
            data.insert(source.name().to_string(), value);
        }
        ctx.cache_level = level;
        let html = self.template.render(&Value::Object(data))?;
        let mut resp = Response::new(200)?
            .with_header("content-type", &self.content_type)?
            .with_body(html);
        if let Some(l) = level {
            resp = resp.with_header("x-cache", l.as_str())?;
        }
        Ok(Some(resp))
    }
}

impl Page {
    fn not_found(&self, source: &str, level: Option<CacheLevel>) -> Result<Response, BoxError> {
        let mut r = Response::text(404, format!("404 not found ({source})\n"))?;
        if let Some(l) = level {
            r = r.with_header("x-cache", l.as_str())?;
        }
        Ok(r)
    }
}
