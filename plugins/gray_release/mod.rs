//! `gray-release` (access phase): sends a request to the canary upstream group or the
//! stable one, by rules checked in memory (never a Redis round trip per request):
//!
//! - the client address in a list — inline, and/or read live from Redis (the seed's
//!   `set gray "ip1 ip2"`, or a set) or Consul KV (`live.rs`), kept when the source fails;
//! - a header or a cookie with one of the given values;
//! - a sticky percentage: a hash of a declared key (`$cookie_uid`, `$consumer`, …).
//!
//! Any rule that matches → canary. The choice is made with `ctx.set_upstream`, so it shows
//! as `$upstream_group` in access logs; `response_header` adds it to the response
//! (`canary` / `stable`). The client address is `ctx.client_addr` (`$remote_addr`).
//!
//! Reload in place: the list, its source (Redis client and breaker, Consul watch index)
//! and its task are carried to the next generation while the plugin's config is unchanged
//! (key: `shared.carry.config()`); a retired list's task is aborted with it.
//!
//! ```toml
//! { name = "gray-release", config = { canary = "pre", ips_from = { redis = { addresses = ["127.0.0.1:6379"] }, key = "gray" }, response_header = "x-gray" } }
//! ```

mod live;
mod rules;

pub use live::{split_entries, Live, LiveList, Source, FIRST_READ_WAIT};
pub use rules::{bucket, HeaderRule, Percent, ValueRule};

use std::sync::Arc;
use std::time::Duration;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::ConsulClient;
use edgeproxy::kit::ConsulSpec;
use edgeproxy::kit::UpstreamRef;
use edgeproxy::kit::{de_duration, BoxError, Flow, Plugin, PluginFactory, RequestCtx, Shared};
use edgeproxy::kit::{RequestHeader, ResponseHeader};
use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec, IntGaugeVec};
use serde::Deserialize;

use crate::ip_restriction::Cidr;
use crate::support::carried::carry_try;
use crate::support::redis_config::RedisConfig;

/// Requests by canary group and side (`canary`, `stable`).
pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    edgeproxy::kit::metrics::counter_vec(
        "edgeproxy_gray_release_requests_total",
        "Requests routed by gray-release, by canary group and side (canary or stable)",
        &["canary", "side"],
    )
});

/// Entries of the canary address list in force, by canary group.
pub static LIST_ENTRIES: Lazy<IntGaugeVec> = Lazy::new(|| {
    edgeproxy::kit::metrics::gauge_vec(
        "edgeproxy_gray_release_list_entries",
        "Entries of the gray-release canary address list in force, by canary group",
        &["canary"],
    )
});

/// Failed reads (or unusable values) of the live list, by canary group.
pub static LIST_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    edgeproxy::kit::metrics::counter_vec(
        "edgeproxy_gray_release_list_errors_total",
        "Failed or unusable reads of the gray-release canary list, by canary group",
        &["canary"],
    )
});

/// 1 while a list's Redis circuit breaker is open, by canary group.
pub static BREAKER_OPEN: Lazy<IntGaugeVec> = Lazy::new(|| {
    edgeproxy::kit::metrics::gauge_vec(
        "edgeproxy_gray_release_redis_breaker_open",
        "1 while a gray-release list's Redis circuit breaker is open, by canary group",
        &["canary"],
    )
});

/// Config of the `gray-release` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GrayReleaseConfig {
    /// The canary upstream group.
    pub canary: String,
    /// The stable group (default: the route's upstream).
    pub stable: Option<String>,
    /// Client addresses or networks sent to the canary.
    #[serde(default)]
    pub ips: Vec<Cidr>,
    /// A live list of addresses, from Redis or Consul KV.
    pub ips_from: Option<IpsFrom>,
    /// A header that sends the request to the canary.
    pub header: Option<ValueRule>,
    /// A cookie that sends the request to the canary.
    pub cookie: Option<ValueRule>,
    /// Percentage of keys sent to the canary (0–100, default 0).
    #[serde(default)]
    pub percent: f64,
    /// The key the percentage hashes (default `"$remote_addr"`).
    #[serde(default = "default_percent_key")]
    pub percent_key: String,
    /// Response header naming the side (`canary` / `stable`); none by default.
    pub response_header: Option<String>,
}

/// Where the live list is.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IpsFrom {
    /// Redis (`set gray "ip1 ip2"` or a set).
    pub redis: Option<RedisConfig>,
    /// Consul HTTP address (`http://127.0.0.1:8500`).
    pub consul: Option<String>,
    /// Environment variable holding the Consul ACL token.
    pub consul_token_env: Option<String>,
    /// The Redis or Consul key.
    pub key: String,
    /// Redis poll interval, and the wait after a failed read (default `"500ms"`).
    #[serde(default = "default_refresh", deserialize_with = "de_duration")]
    pub refresh: Duration,
}

fn default_percent_key() -> String {
    "$remote_addr".into()
}
fn default_refresh() -> Duration {
    Duration::from_millis(500)
}

/// Which side a request went to, for the response header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Side(pub bool);

/// The `gray-release` plugin.
pub struct GrayRelease {
    canary: UpstreamRef,
    stable: Option<UpstreamRef>,
    /// The list, its source and task: carried across reloads while the config is unchanged.
    live: Arc<Live>,
    header: Option<HeaderRule>,
    cookie: Option<ValueRule>,
    percent: Percent,
    response_header: Option<http::HeaderName>,
    to_canary: IntCounter,
    to_stable: IntCounter,
}

impl PluginFactory for GrayRelease {
    const NAME: &'static str = "gray-release";
    type Config = GrayReleaseConfig;

    fn build(cfg: GrayReleaseConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let canary = shared.upstream_ref(&cfg.canary)?;
        let stable = cfg
            .stable
            .as_deref()
            .map(|s| shared.upstream_ref(s))
            .transpose()?;
        let label = cfg.canary.as_str();
        let nothing = cfg.ips.is_empty()
            && cfg.ips_from.is_none()
            && cfg.header.is_none()
            && cfg.cookie.is_none()
            && cfg.percent == 0.0;
        if nothing {
            return Err("no rule: set `ips`, `ips_from`, `header`, `cookie` or `percent`".into());
        }
        let response_header = cfg
            .response_header
            .as_deref()
            .map(|h| {
                http::HeaderName::try_from(h)
                    .map_err(|_| format!("response_header: `{h}` is not a header name"))
            })
            .transpose()?;
        let (live, _) = carry_try(shared, shared.carry.config(), || {
            let source = cfg
                .ips_from
                .as_ref()
                .map(|f| source(f, label))
                .transpose()?;
            let list = LiveList::new(
                cfg.ips.clone(),
                label.to_string(),
                LIST_ENTRIES.with_label_values(&[label]),
                LIST_ERRORS.with_label_values(&[label]),
            );
            Ok::<_, String>(Live::new(list, source))
        })?;
        Ok(Arc::new(GrayRelease {
            to_canary: REQUESTS.with_label_values(&[label, "canary"]),
            to_stable: REQUESTS.with_label_values(&[label, "stable"]),
            canary,
            stable,
            live,
            header: cfg.header.map(HeaderRule::new).transpose()?,
            cookie: cfg.cookie,
            percent: Percent::new(cfg.percent, &cfg.percent_key)?,
            response_header,
        }))
    }
}

fn source(f: &IpsFrom, label: &str) -> Result<Source, String> {
    if f.refresh < Duration::from_millis(10) {
        return Err("ips_from: `refresh` must be at least 10ms".into());
    }
    match (&f.redis, &f.consul) {
        (Some(r), None) => {
            if f.consul_token_env.is_some() {
                return Err("ips_from: `consul_token_env` is for `consul`".into());
            }
            let client = r.client(
                &format!("gray-release {label}"),
                BREAKER_OPEN.with_label_values(&[label]),
                LIST_ERRORS.with_label_values(&[label]),
            )?;
            Ok(Source::Redis {
                client,
                key: f.key.clone(),
                refresh: f.refresh,
            })
        }
        (None, Some(address)) => {
            let token =
                match &f.consul_token_env {
                    Some(var) => Some(std::env::var(var).map_err(|_| {
                        format!("ips_from: environment variable `{var}` is not set")
                    })?),
                    None => None,
                };
            let spec = ConsulSpec {
                address: address.clone(),
                prefix: f.key.clone(),
                token,
                ..ConsulSpec::default()
            };
            let client = ConsulClient::new(spec).map_err(|e| format!("ips_from: {e}"))?;
            Ok(Source::Consul {
                client,
                key: f.key.clone(),
                refresh: f.refresh,
            })
        }
        _ => Err("ips_from: set exactly one of `redis` and `consul`".into()),
    }
}

impl GrayRelease {
    /// Whether the request goes to the canary.
    pub fn is_canary(&self, req: &RequestHeader, ctx: &RequestCtx) -> bool {
        ctx.client_addr
            .is_some_and(|a| self.live.list().table().contains(a.ip()))
            || self.header.as_ref().is_some_and(|h| h.matches(req))
            || self
                .cookie
                .as_ref()
                .is_some_and(|c| rules::cookie_matches(c, req))
            || self.percent.matches(req, ctx)
    }
}

#[async_trait]
impl Plugin for GrayRelease {
    async fn access(&self, req: &RequestHeader, ctx: &mut RequestCtx) -> Result<Flow, BoxError> {
        self.live.started().await;
        let canary = self.is_canary(req, ctx);
        if canary {
            self.to_canary.inc();
            ctx.set_upstream(&self.canary);
        } else {
            self.to_stable.inc();
            if let Some(stable) = &self.stable {
                ctx.set_upstream(stable);
            }
        }
        if self.response_header.is_some() {
            ctx.extensions.insert(Side(canary));
        }
        Ok(Flow::Continue)
    }

    fn header_filter(
        &self,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<(), BoxError> {
        if let (Some(name), Some(Side(canary))) =
            (&self.response_header, ctx.extensions.get::<Side>())
        {
            resp.insert_header(name.clone(), if *canary { "canary" } else { "stable" })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
