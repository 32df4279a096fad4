//! `rate-limit` (access phase): at most so many requests per key, counted per process or
//! across every node in Redis, refused with 429 (`Retry-After`, `RateLimit-*` headers).
//!
//! - **Key**: a template of request variables (`$remote_addr`, `$http_X`, `$arg_X`,
//!   `$cookie_X`, `$uri`, `$host`, `$consumer`, `$jwt_NAME`, …; `upstream/key.rs`); a
//!   request whose key is missing goes to one shared bucket or is skipped, as declared.
//! - **Algorithms** (`algo.rs`): sliding or fixed window count, or nginx's `limit_req`
//!   leaky bucket (`rate`, `burst`, `nodelay`, `delay`).
//! - **Scope**: `local` (a bounded map per process, `local.rs`) or `redis` (one atomic
//!   script per request, `remote.rs`, single node or Cluster). Redis slower than its timeout
//!   or down: the declared fallback, a local limit of `1 / nodes` of the rule or
//!   `fail_open`; after `breaker_failures` failures in a row Redis is not even asked until a
//!   probe succeeds. Switches are logged and counted (`mode.rs`). Never a 5xx.
//! - `dry_run` counts and logs what would be refused; metrics per rule.
//! - **Reload in place**: the engine (local counters, the Redis client and its breaker,
//!   the fallback's counters and mode) is carried to the next generation while the
//!   plugin's config is unchanged (key: `shared.carry.config()`); a changed rule starts
//!   with fresh windows.
//!
//! ```toml
//! { name = "rate-limit", config = { rule = "api", key = "$consumer", limit = 100, window = "1m", scope = "redis", redis = { addresses = ["127.0.0.1:6379"] }, nodes = 3 } }
//! { name = "rate-limit", config = { rule = "login", algorithm = "leaky_bucket", rate = "10r/s", burst = 20, nodelay = true } }
//! ```

mod algo;
mod config;
mod local;
mod mode;
mod remote;

pub use algo::{Algorithm, Decision, State};
pub use config::{Headers, MissingKey, OnRedisError, RateLimitConfig, Scope};
pub use local::LocalLimiter;
pub use mode::{Mode, RuleMetrics};
pub use remote::RedisLimiter;

use std::sync::Arc;
use std::time::Duration;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::refusal_status;
use edgeproxy::kit::KeyTemplate;
use edgeproxy::kit::{BoxError, Flow, Plugin, PluginFactory, RequestCtx, Response, Shared};
use edgeproxy::kit::{RequestHeader, ResponseHeader};

use crate::support::carried::carry_try;

/// Where a rule's decisions are made.
// Built once per plugin instance and never moved on the request path: no point boxing.
#[allow(clippy::large_enum_variant)]
enum Engine {
    Local(LocalLimiter),
    Redis {
        remote: RedisLimiter,
        /// `None`: `fail_open`.
        fallback: Option<LocalLimiter>,
        mode: Mode,
    },
}

/// The `RateLimit-*` numbers of a request, for the header filter: the rule with the
/// fewest requests left, when several limit a route.
#[derive(Debug, Clone, Copy)]
pub struct LimitHeaders {
    limit: u64,
    remaining: u64,
    reset_ms: u64,
}

/// The `rate-limit` plugin.
pub struct RateLimit {
    rule: Arc<str>,
    key: KeyTemplate,
    missing: MissingKey,
    /// Carried across reloads while the config is unchanged.
    engine: Arc<Engine>,
    status: u16,
    message: Option<String>,
    headers: Headers,
    dry_run: bool,
    metrics: RuleMetrics,
}

impl PluginFactory for RateLimit {
    const NAME: &'static str = "rate-limit";
    type Config = RateLimitConfig;

    fn build(cfg: RateLimitConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        config::check_rule_name(&cfg.rule)?;
        let key = KeyTemplate::parse(&cfg.key).map_err(|e| format!("key: {e}"))?;
        let algo = cfg.algorithm()?;
        refusal_status(cfg.status)?;
        if cfg.max_keys == 0 {
            return Err("`max_keys` must be at least 1".into());
        }
        let (engine, _) = carry_try(shared, shared.carry.config(), || engine(&cfg, algo))?;
        Ok(Arc::new(RateLimit {
            metrics: RuleMetrics::new(&cfg.rule),
            rule: Arc::from(cfg.rule),
            key,
            missing: cfg.missing_key,
            engine,
            status: cfg.status,
            message: cfg.message,
            headers: cfg.headers,
            dry_run: cfg.dry_run,
        }))
    }
}

/// The rule's engine: its counters, or its Redis client with the fallback.
fn engine(cfg: &RateLimitConfig, algo: Algorithm) -> Result<Engine, String> {
    match (cfg.scope, &cfg.redis) {
        (Scope::Local, None) => {
            if cfg.nodes.is_some() {
                return Err("`nodes` is for scope = \"redis\"".into());
            }
            Ok(Engine::Local(LocalLimiter::new(algo, cfg.max_keys)))
        }
        (Scope::Local, Some(_)) => {
            Err("`redis` is set but scope is \"local\"; add scope = \"redis\"".into())
        }
        (Scope::Redis, None) => Err("scope = \"redis\" needs a `redis` table".into()),
        (Scope::Redis, Some(r)) => redis_engine(cfg, r, algo),
    }
}

fn redis_engine(
    cfg: &RateLimitConfig,
    redis: &crate::support::redis_config::RedisConfig,
    algo: Algorithm,
) -> Result<Engine, String> {
    let rule = cfg.rule.as_str();
    let client = redis.client(
        &format!("rate-limit {rule}"),
        mode::BREAKER_OPEN.with_label_values(&[rule]),
        mode::REDIS_ERRORS.with_label_values(&[rule]),
    )?;
    let (fallback, policy) = match (cfg.on_redis_error, cfg.nodes) {
        (OnRedisError::FailOpen, None) => (None, "not limiting (fail_open)".to_string()),
        (OnRedisError::FailOpen, Some(_)) => {
            return Err("`nodes` is for on_redis_error = \"local\"".into())
        }
        (OnRedisError::Local, None) => return Err(
            "on_redis_error = \"local\" needs `nodes` (how many edgeproxy nodes share the rule: \
             each limits to its share while Redis is down)"
                .into(),
        ),
        (OnRedisError::Local, Some(0)) => return Err("`nodes` must be at least 1".into()),
        (OnRedisError::Local, Some(n)) => {
            let share = config::share(algo, n);
            let text = format!("limiting locally to 1/{n} of the rule ({share:?})");
            (Some(LocalLimiter::new(share, cfg.max_keys)), text)
        }
    };
    Ok(Engine::Redis {
        remote: RedisLimiter::new(client, algo, &cfg.key_prefix, rule),
        fallback,
        mode: Mode::new(rule, policy),
    })
}

impl RateLimit {
    /// The decision for `key`, or `None` when Redis failed and the rule fails open.
    async fn decide(&self, key: &str) -> Option<Decision> {
        match &*self.engine {
            Engine::Local(l) => Some(l.decide(key)),
            Engine::Redis {
                remote,
                fallback,
                mode,
            } => match remote.decide(key).await {
                Ok(d) => {
                    mode.redis_ok();
                    Some(d)
                }
                Err(e) => {
                    mode.redis_failed(&e);
                    fallback.as_ref().map(|l| l.decide(key))
                }
            },
        }
    }

    fn refusal(&self, d: &Decision, ctx: &RequestCtx) -> Result<Response, BoxError> {
        let resp = match &self.message {
            Some(m) => Response::text(self.status, m.clone())?,
            None => Response::error(self.status, "Too Many Requests", &ctx.request_id),
        };
        let mut resp = resp.with_header("retry-after", &secs(d.retry_ms).max(1).to_string())?;
        if self.headers != Headers::None {
            set_headers(&mut resp.header, d.limit, 0, d.reset_ms)?;
        }
        Ok(resp)
    }

    fn remember(&self, d: &Decision, ctx: &mut RequestCtx) {
        if self.headers != Headers::All {
            return;
        }
        let fewer = ctx
            .extensions
            .get::<LimitHeaders>()
            .is_none_or(|h| d.remaining < h.remaining);
        if fewer {
            ctx.extensions.insert(LimitHeaders {
                limit: d.limit,
                remaining: d.remaining,
                reset_ms: d.reset_ms,
            });
        }
    }
}

fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

fn set_headers(
    h: &mut ResponseHeader,
    limit: u64,
    remaining: u64,
    reset_ms: u64,
) -> Result<(), BoxError> {
    h.insert_header("ratelimit-limit", limit.to_string())?;
    h.insert_header("ratelimit-remaining", remaining.to_string())?;
    h.insert_header("ratelimit-reset", secs(reset_ms).to_string())?;
    Ok(())
}

#[async_trait]
impl Plugin for RateLimit {
    async fn access(&self, req: &RequestHeader, ctx: &mut RequestCtx) -> Result<Flow, BoxError> {
        let mut key = String::new();
        if !self
            .key
            .eval_with(req, ctx.client_addr, &ctx.vars, &mut key)
        {
            if self.missing == MissingKey::Skip {
                self.metrics.skipped.inc();
                return Ok(Flow::Continue);
            }
            key.clear(); // "": the shared bucket of requests without a key
        }
        let Some(d) = self.decide(&key).await else {
            self.metrics.fail_open.inc();
            return Ok(Flow::Continue);
        };
        if !d.allowed && !self.dry_run {
            self.metrics.limited.inc();
            return Ok(Flow::Respond(self.refusal(&d, ctx)?));
        }
        if d.allowed {
            self.metrics.allowed.inc();
        } else {
            self.metrics.dry_run_limited.inc();
            tracing::info!(request_id = %ctx.request_id, rule = %self.rule, "rate-limit: over the limit (dry_run: not refused)");
        }
        self.remember(&d, ctx);
        if d.delay_ms > 0 && !self.dry_run {
            tokio::time::sleep(Duration::from_millis(d.delay_ms)).await;
        }
        Ok(Flow::Continue)
    }

    fn header_filter(
        &self,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<(), BoxError> {
        if let Some(h) = ctx.extensions.get::<LimitHeaders>() {
            if resp.headers.get("ratelimit-limit").is_none() {
                set_headers(resp, h.limit, h.remaining, h.reset_ms)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
