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
//! Strict mode catches template mistakes; `missing = "empty"` or `{ default = "n/a" }`
//! lets a record that lacks a field render anyway (counted, logged).
//!
//! Reload in place: the compiled template and the render cache (`memo.rs`) are carried to
//! the next generation together while the plugin's config is unchanged (key:
//! the resolved template path + `shared.carry.config()`; a template file changed since is
//! compiled at the reload); the cache engine's L1 is carried by the core (`[caches.NAME]`
//! by name and spec).

mod doc;
mod error;
mod escape;
mod jsonstr;
mod memo;
mod memo_size;
mod missing;
mod params;
mod pattern;
mod simple;
mod source;
mod template;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{de_duration, BoxError, Plugin, PluginFactory, RequestCtx, Response, Shared};
use edgeproxy::kit::{CacheLevel, TieredCache};
use serde::Deserialize;
use serde_json::{Map, Value};

use bytes::Bytes;
use doc::Doc;
use edgeproxy::kit::Version;
use memo::{Found as Remembered, Memo};
pub use missing::Missing;
use params::{extract, BadParam, Param, ParamConfig};
use simple::Root;
use source::{Fetched, Found, Origins, Source, SourceConfig};
use template::Template;

use crate::support::carried::{carry_try, Origin};

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
    /// Memory for rendered pages reused while the template and the stored source values
    /// they came from are unchanged (default "32MiB"; "0" turns it off). A page is kept the
    /// second time its parameters are seen within a while, so one-off combinations cost a
    /// hash and a probe (see `memo.rs`).
    #[serde(default = "default_render_cache")]
    pub render_cache: String,
    /// What a field missing from the data renders as: `"strict"` (default: the page fails),
    /// `"empty"`, or `{ default = "text" }`; counted and logged (see `missing.rs`).
    #[serde(default)]
    pub missing: Missing,
    /// Name the cache keys the page was built from in `Surrogate-Key` (space-separated),
    /// so that a distribution tier serving hot pages from memory drops exactly the pages
    /// a purge concerns (docs/hot.md). Default false.
    #[serde(default)]
    pub surrogate_keys: bool,
}

fn default_render_cache() -> String {
    "32MiB".to_string()
}

fn default_content_type() -> String {
    "text/html; charset=utf-8".to_string()
}

fn default_check() -> Duration {
    Duration::from_secs(1)
}

/// A page's template and the pages rendered with it: the memo's entries name the
/// template's generation, so the two are only ever carried together.
struct Rendered {
    template: Template,
    memo: Memo,
}

/// The `page` plugin.
pub struct Page {
    cache: TieredCache,
    params: Vec<Param>,
    sources: Vec<Source>,
    /// Template and render cache, carried across reloads while the config is unchanged.
    rendered: Arc<Rendered>,
    content_type: http::HeaderValue,
    surrogate_keys: bool,
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
        let mut origins = Origins::new();
        for s in cfg.sources {
            if sources.iter().any(|x: &Source| x.name() == s.name) {
                return Err(format!("source `{}` is declared twice", s.name).into());
            }
            sources.push(Source::new(s, &names, shared, &mut origins)?);
        }
        if sources.is_empty() {
            return Err("a page needs at least one source".into());
        }
        let content_type = http::HeaderValue::try_from(cfg.content_type.as_str())?;
        let render_cache = edgeproxy::kit::parse_size(&cfg.render_cache).ok_or_else(|| {
            format!(
                "render_cache: invalid size {:?} (e.g. \"16MiB\", \"0\")",
                cfg.render_cache
            )
        })?;
        let path = shared.resolve_path(&cfg.template);
        let key = format!("{path:?}:{}", shared.carry.config());
        let (rendered, origin) = carry_try(shared, &key, || {
            let template = Template::load(path, &cfg.template, cfg.missing, cfg.template_check)?;
            Ok::<_, BoxError>(Rendered {
                template,
                memo: Memo::new(render_cache),
            })
        })?;
        if origin == Origin::Kept {
            rendered.template.reload_if_changed();
        }
        Ok(Arc::new(Page {
            cache,
            params,
            sources,
            rendered,
            content_type,
            surrogate_keys: cfg.surrogate_keys,
        }))
    }
}

/// The header naming the cache keys a page was built from.
const SURROGATE_KEY: &str = "surrogate-key";

/// The deepest level that answered any source (what `X-Cache` reports).
fn deepest(a: Option<CacheLevel>, b: CacheLevel) -> CacheLevel {
    let rank = |l: CacheLevel| match l {
        CacheLevel::L1 | CacheLevel::FirstHop => 0,
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
        let mut level = None;
        let mut found: Vec<Option<Found>> = Vec::with_capacity(fetched.len());
        let mut versions: Vec<Version> = Vec::with_capacity(fetched.len());
        for (source, result) in self.sources.iter().zip(fetched) {
            match result {
                Fetched::Value(f) => {
                    level = Some(deepest(level, f.level));
                    versions.push(f.version);
                    found.push(Some(f));
                }
                Fetched::Missing(l, version) => {
                    if let Some(l) = l {
                        level = Some(deepest(level, l));
                    }
                    if source.fallback().is_none() && source.required() {
                        ctx.cache_level = level;
                        return Ok(Some(self.not_found(source.name(), level)?));
                    }
                    versions.push(version);
                    found.push(None);
                }
                Fetched::Failed(why) => {
                    tracing::warn!(request_id = %ctx.request_id, source = source.name(), "{why}");
                    return Ok(Some(origin_unavailable(source.name())?));
                }
            }
        }
        ctx.cache_level = level;
        let generation = self.rendered.template.generation();
        let key = self
            .rendered
            .memo
            .enabled()
            .then(|| self.rendered.memo.key(&values));
        let mut outdated = false;
        if let Some(k) = key {
            match self.rendered.memo.get(k, &values, generation, &versions) {
                Remembered::Page(html) => return self.page(html, level, &values).map(Some),
                Remembered::Outdated => outdated = true,
                Remembered::Nothing => {}
            }
        }
        let html = match self.render(&values, &found) {
            Ok(html) => Bytes::from(html),
            Err(RenderError::InvalidJson(source)) => return Ok(Some(origin_unavailable(source)?)),
            Err(RenderError::Failed(e)) => return Err(e),
        };
        if let Some(k) = key {
            self.rendered
                .memo
                .offer(k, &values, outdated, generation, &versions, &html);
        }
        self.page(html, level, &values).map(Some)
    }
}

/// Why a page could not be rendered.
enum RenderError<'a> {
    /// The origin of this source sent something that is not JSON (answered with a 502).
    InvalidJson(&'a str),
    /// Rendering failed (a 500 from the framework).
    Failed(BoxError),
}

fn origin_unavailable(source: &str) -> Result<Response, BoxError> {
    Response::text(
        502,
        format!("502 origin unavailable for `{source}` and nothing cached\n"),
    )
}

impl Page {
    /// Renders the page from the sources' parsed values (parsed once per stored value and
    /// kept with it in L1, see `Derived`; their strings point into the stored bytes, see
    /// `doc.rs`): straight from them when the template is simple, else through handlebars
    /// with a data object holding copies of them.
    fn render(
        &self,
        values: &BTreeMap<String, String>,
        found: &[Option<Found>],
    ) -> Result<Vec<u8>, RenderError<'_>> {
        let mut parsed: Vec<Option<Arc<Doc>>> = Vec::with_capacity(found.len());
        for (source, f) in self.sources.iter().zip(found) {
            let Some(f) = f else {
                parsed.push(None);
                continue;
            };
            match f.derived.get_or_try_init(|| Doc::parse(f.bytes.clone())) {
                Ok(v) => parsed.push(Some(v)),
                Err(e) => {
                    tracing::warn!(source = source.name(), "origin sent invalid JSON: {e}");
                    return Err(RenderError::InvalidJson(source.name()));
                }
            }
        }
        let data = |i: usize| match &parsed[i] {
            Some(v) => Some(v.as_ref()),
            None => self.sources[i].fallback(),
        };
        let root = |name: &str| {
            // The data object below: `params`, then each source (a later one wins).
            match self.sources.iter().rposition(|s| s.name() == name) {
                Some(i) => Some(Root::Doc(data(i).unwrap_or(Doc::null()))),
                None => (name == "params").then_some(Root::Params(values)),
            }
        };
        if let Some(html) = self.rendered.template.render_simple(root) {
            return Ok(html);
        }
        let mut map = Map::new();
        let params = values
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        map.insert("params".into(), Value::Object(params));
        for (i, source) in self.sources.iter().enumerate() {
            map.insert(
                source.name().to_string(),
                data(i).map_or(Value::Null, Doc::to_value),
            );
        }
        self.rendered
            .template
            .render(Value::Object(map))
            .map_err(|e| RenderError::Failed(e.into()))
    }

    /// The 200 answer.
    fn page(
        &self,
        html: Bytes,
        level: Option<CacheLevel>,
        values: &BTreeMap<String, String>,
    ) -> Result<Response, BoxError> {
        let mut resp = Response::new(200)?
            .with_header_value("content-type", self.content_type.clone())?
            .with_body(html);
        if let Some(l) = level {
            resp = resp.with_header_value("x-cache", http::HeaderValue::from_static(l.as_str()))?;
        }
        if self.surrogate_keys {
            let keys: Vec<String> = self
                .sources
                .iter()
                .filter_map(|s| s.cache_key(values))
                .collect();
            // A key a header cannot carry: no tags at all (then any purge drops the copy).
            if keys
                .iter()
                .all(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic()))
            {
                resp = resp.with_header(SURROGATE_KEY, &keys.join(" "))?;
            }
        }
        Ok(resp)
    }

    fn not_found(&self, source: &str, level: Option<CacheLevel>) -> Result<Response, BoxError> {
        let mut r = Response::text(404, format!("404 not found ({source})\n"))?;
        if let Some(l) = level {
            r = r.with_header("x-cache", l.as_str())?;
        }
        Ok(r)
    }
}
