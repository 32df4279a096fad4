//! One data source of a page: cache key and origin path patterns, TTLs, and the loader that
//! fetches it from an upstream group through the tiered cache.

use super::error::PageError;
use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use edgeproxy::kit::async_trait;
use edgeproxy::kit::{de_duration, BoxError, Shared};
use edgeproxy::kit::{
    CacheLevel, Derived, HttpOrigin, HttpOriginLimits, LoadError, Loaded, Loader, TieredCache,
    Ttls, Version,
};
use serde::Deserialize;

use super::doc::Doc;
use super::pattern::Pattern;

/// Config of one source.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Name the template sees the data under.
    pub name: String,
    /// Cache key pattern, e.g. `product_info_{productId}`.
    pub key: String,
    /// Upstream group of the origin service.
    pub origin: String,
    /// Origin path pattern, e.g. `/getProductInfo?productId={productId}`.
    pub path: String,
    /// How long a found value is fresh.
    #[serde(deserialize_with = "de_duration")]
    pub ttl: Duration,
    /// How long an origin 404 is remembered (default 30s).
    #[serde(default = "default_negative", deserialize_with = "de_duration")]
    pub negative_ttl: Duration,
    /// How long an expired value is kept to serve when Redis and the origin fail (default 1h).
    #[serde(default = "default_grace", deserialize_with = "de_duration")]
    pub stale_grace: Duration,
    /// Origin request timeout (default 2s).
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Whether a missing value makes the page a 404 (default true).
    #[serde(default = "default_true")]
    pub required: bool,
    /// Data used when the value is missing (instead of a 404).
    pub fallback: Option<serde_json::Value>,
}

fn default_negative() -> Duration {
    Duration::from_secs(30)
}
fn default_grace() -> Duration {
    Duration::from_secs(3600)
}
fn default_timeout() -> Duration {
    Duration::from_secs(2)
}
fn default_true() -> bool {
    true
}

/// Origin clients of one page, by upstream group and request timeout.
pub type Origins = std::collections::HashMap<(String, Duration), HttpOrigin>;

/// A source value as the cache handed it out.
pub struct Found {
    /// The origin's JSON, unparsed.
    pub bytes: Bytes,
    /// The stored value's slot for its parsed form.
    pub derived: Derived,
    /// The stored value's identity.
    pub version: Version,
    /// The level that answered.
    pub level: CacheLevel,
}

/// What fetching a source produced.
pub enum Fetched {
    /// A value.
    Value(Found),
    /// Not found (origin 404, possibly cached: the level and the negative entry's version),
    /// or a parameter it needs was not sent (no level, version 0).
    Missing(Option<CacheLevel>, Version),
    /// Nothing could be produced (origin error and no stale copy, or invalid JSON).
    Failed(String),
}

/// A compiled source.
pub struct Source {
    name: String,
    key: Pattern,
    path: Pattern,
    ttls: Ttls,
    origin: HttpOrigin,
    required: bool,
    fallback: Option<Doc>,
}

/// Loads from the origin, building the path only then (cache hits never need it).
struct PathLoader<'a> {
    origin: &'a HttpOrigin,
    path: &'a Pattern,
    values: &'a BTreeMap<String, String>,
}

#[async_trait]
impl Loader for PathLoader<'_> {
    async fn load(&self, _key: &str) -> Result<Loaded, LoadError> {
        let path = self.path.render(self.values, true).unwrap_or_default();
        self.origin.fetch(&path).await
    }
}

impl Source {
    /// Compiles `cfg`; patterns may only use `params`. Sources of one page that use the same
    /// upstream group and timeout share one origin client (`origins`), hence one keep-alive pool.
    pub fn new(
        cfg: SourceConfig,
        params: &[String],
        shared: &Shared,
        origins: &mut Origins,
    ) -> Result<Source, BoxError> {
        let ctx = |e: &dyn std::fmt::Display| PageError(format!("source `{}`: {e}", cfg.name));
        let key = Pattern::parse(&cfg.key, params).map_err(|e| ctx(&e))?;
        let path = Pattern::parse(&cfg.path, params).map_err(|e| ctx(&e))?;
        if !cfg.path.starts_with('/') {
            return Err(ctx(&"path must start with `/`").into());
        }
        let origin = match origins.get(&(cfg.origin.clone(), cfg.timeout)) {
            Some(o) => o.clone(),
            None => {
                let group = shared
                    .upstreams
                    .get(&cfg.origin)
                    .cloned()
                    .ok_or_else(|| ctx(&format!("undefined upstream `{}`", cfg.origin)))?;
                let limits = HttpOriginLimits {
                    request_timeout: cfg.timeout,
                    ..HttpOriginLimits::default()
                };
                let o = HttpOrigin::new(move || group.select(None, &[]), limits)
                    .map_err(|e| ctx(&e))?;
                origins.insert((cfg.origin.clone(), cfg.timeout), o.clone());
                o
            }
        };
        let fallback = match &cfg.fallback {
            Some(v) => Some(Doc::from_value(v).map_err(|e| ctx(&format!("fallback: {e}")))?),
            None => None,
        };
        Ok(Source {
            key,
            path,
            ttls: Ttls {
                fresh: cfg.ttl,
                negative: cfg.negative_ttl,
                stale_grace: cfg.stale_grace,
            },
            origin,
            required: cfg.required,
            fallback,
            name: cfg.name,
        })
    }

    /// The source's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether a missing value is a 404.
    pub fn required(&self) -> bool {
        self.required
    }

    /// Data used when the value is missing.
    pub fn fallback(&self) -> Option<&Doc> {
        self.fallback.as_ref()
    }

    /// The cache key for these parameter values (`None` when one is missing).
    pub fn cache_key(&self, values: &BTreeMap<String, String>) -> Option<String> {
        self.key.render(values, false)
    }

    /// Looks the source up for these (validated) parameter values.
    pub async fn fetch(&self, cache: &TieredCache, values: &BTreeMap<String, String>) -> Fetched {
        let Some(key) = self.key.render(values, false) else {
            return Fetched::Missing(None, 0);
        };
        if !self.path.renders_with(values) {
            return Fetched::Missing(None, 0);
        }
        let loader = PathLoader {
            origin: &self.origin,
            path: &self.path,
            values,
        };
        match cache.get(&key, &self.ttls, &loader).await {
            Ok(hit) => match hit.value {
                None => Fetched::Missing(Some(hit.level), hit.version),
                Some(bytes) => Fetched::Value(Found {
                    bytes,
                    derived: hit.derived,
                    version: hit.version,
                    level: hit.level,
                }),
            },
            Err(e) => Fetched::Failed(e.to_string()),
        }
    }
}
