//! The `rate-limit` config and its checks: which algorithm with which numbers, where the
//! state lives, what happens without a key or without Redis.

use std::time::Duration;

use edgeproxy::kit::de_opt_duration;
use serde::Deserialize;

use super::algo::Algorithm;
use crate::support::redis_config::RedisConfig;

/// Config of the `rate-limit` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitConfig {
    /// The rule's name: metrics label and part of the Redis key (`[A-Za-z0-9_.-]`).
    pub rule: String,
    /// What is limited: a template of request variables (default `"$remote_addr"`).
    #[serde(default = "default_key")]
    pub key: String,
    /// A request whose key is missing: `shared` (default: one bucket for all of them) or
    /// `skip` (not limited).
    #[serde(default)]
    pub missing_key: MissingKey,
    /// `sliding_window` (default), `fixed_window` or `leaky_bucket`.
    #[serde(default)]
    pub algorithm: AlgorithmName,
    /// Windows: requests per `window`.
    pub limit: Option<u64>,
    /// Windows: the window (`"1s"` to `"1d"`).
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub window: Option<Duration>,
    /// Leaky bucket: nginx's `rate` (`"10r/s"`, `"30r/m"`).
    pub rate: Option<String>,
    /// Leaky bucket: requests beyond the rate accepted at once (default 0).
    pub burst: Option<u64>,
    /// Leaky bucket: pass the burst at once instead of spacing it out.
    #[serde(default)]
    pub nodelay: bool,
    /// Leaky bucket: requests of the burst passed without delay (nginx `delay=`).
    pub delay: Option<u64>,
    /// `local` (default: this process) or `redis` (shared by every node).
    #[serde(default)]
    pub scope: Scope,
    /// Where Redis is (`scope = "redis"`).
    pub redis: Option<RedisConfig>,
    /// Prefix of the Redis keys (default `"rl:"`).
    #[serde(default = "default_prefix")]
    pub key_prefix: String,
    /// Redis not answering within its timeout: `local` (default: a local limit of
    /// `1 / nodes` of the rule) or `fail_open` (not limited).
    #[serde(default)]
    pub on_redis_error: OnRedisError,
    /// How many edgeproxy nodes share the rule (`on_redis_error = "local"`).
    pub nodes: Option<u64>,
    /// Keys kept at most per process (default 100000).
    #[serde(default = "default_max_keys")]
    pub max_keys: u64,
    /// Status of a refusal (default 429).
    #[serde(default = "default_status")]
    pub status: u16,
    /// Body of a refusal (default: the status line and the request id).
    pub message: Option<String>,
    /// `RateLimit-Limit/Remaining/Reset` on `all` responses (default), only on `limited`
    /// ones, or `none` (`Retry-After` is always on a refusal).
    #[serde(default)]
    pub headers: Headers,
    /// Count and log what would be refused, refuse nothing.
    #[serde(default)]
    pub dry_run: bool,
}

/// What a request without a key gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingKey {
    /// One bucket shared by every such request.
    #[default]
    Shared,
    /// Not limited by this rule (counted as `skipped`).
    Skip,
}

/// The algorithm's name in the config.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlgorithmName {
    /// Two-counter sliding window.
    #[default]
    SlidingWindow,
    /// Fixed window.
    FixedWindow,
    /// nginx `limit_req`.
    LeakyBucket,
}

/// Where the counts live.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Scope {
    /// In this process.
    #[default]
    Local,
    /// In Redis, shared.
    Redis,
}

/// What a Redis rule does while Redis does not answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnRedisError {
    /// A local limit of `1 / nodes` of the rule.
    #[default]
    Local,
    /// No limit.
    FailOpen,
}

/// Which responses carry the `RateLimit-*` headers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Headers {
    /// Every response of the route.
    #[default]
    All,
    /// Refusals only.
    Limited,
    /// None.
    None,
}

fn default_key() -> String {
    "$remote_addr".into()
}
fn default_prefix() -> String {
    "rl:".into()
}
fn default_max_keys() -> u64 {
    100_000
}
fn default_status() -> u16 {
    429
}

/// The most requests a window rule may allow (keeps the scaled arithmetic exact in Lua).
const MAX_LIMIT: u64 = 10_000_000;

impl RateLimitConfig {
    /// The rule's algorithm with its numbers, or what is wrong with them.
    pub fn algorithm(&self) -> Result<Algorithm, String> {
        let bucket_keys =
            self.rate.is_some() || self.burst.is_some() || self.nodelay || self.delay.is_some();
        match self.algorithm {
            AlgorithmName::SlidingWindow | AlgorithmName::FixedWindow => {
                if bucket_keys {
                    return Err("`rate`, `burst`, `nodelay` and `delay` are for algorithm = \"leaky_bucket\"; windows take `limit` and `window`".into());
                }
                let (Some(limit), Some(window)) = (self.limit, self.window) else {
                    return Err(
                        "a window needs `limit` and `window`, e.g. limit = 100, window = \"1m\""
                            .into(),
                    );
                };
                if !(1..=MAX_LIMIT).contains(&limit) {
                    return Err(format!("`limit` must be 1 to {MAX_LIMIT}"));
                }
                if !(Duration::from_secs(1)..=Duration::from_secs(86_400)).contains(&window) {
                    return Err("`window` must be 1s to 1d".into());
                }
                Ok(Algorithm::Window {
                    limit,
                    window_ms: window.as_millis() as u64,
                    sliding: self.algorithm == AlgorithmName::SlidingWindow,
                })
            }
            AlgorithmName::LeakyBucket => {
                if self.limit.is_some() || self.window.is_some() {
                    return Err("`limit` and `window` are for windows; leaky_bucket takes `rate` (and `burst`, `nodelay`, `delay`)".into());
                }
                let rate = self
                    .rate
                    .as_deref()
                    .ok_or("leaky_bucket needs `rate`, e.g. rate = \"10r/s\"")?;
                let burst = self.burst.unwrap_or(0);
                if burst > MAX_LIMIT {
                    return Err(format!("`burst` must be at most {MAX_LIMIT}"));
                }
                let delay = match (self.nodelay, self.delay) {
                    (true, Some(_)) => return Err("set `nodelay` or `delay`, not both".into()),
                    (true, None) => burst,
                    (false, d) => d.unwrap_or(0).min(burst),
                };
                Ok(Algorithm::Bucket {
                    rate_milli: parse_rate(rate)?,
                    burst,
                    delay,
                })
            }
        }
    }
}

/// nginx's rate: `"10r/s"` → 10000 thousandths per second, `"30r/m"` → 500.
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid rate {s:?}: write \"<n>r/s\" or \"<n>r/m\", e.g. \"10r/s\"");
    let (n, per) = s.trim().split_once("r/").ok_or_else(bad)?;
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    let milli = match per {
        "s" => n.checked_mul(1000),
        "m" => n.checked_mul(1000).map(|m| m / 60),
        _ => None,
    };
    match milli {
        Some(m) if m > 0 && m <= MAX_LIMIT * 1000 => Ok(m),
        _ => Err(bad()),
    }
}

/// The rule's share on one of `nodes` nodes: each count divided, at least 1 request.
pub fn share(algo: Algorithm, nodes: u64) -> Algorithm {
    let nodes = nodes.max(1);
    match algo {
        Algorithm::Window {
            limit,
            window_ms,
            sliding,
        } => Algorithm::Window {
            limit: (limit / nodes).max(1),
            window_ms,
            sliding,
        },
        Algorithm::Bucket {
            rate_milli,
            burst,
            delay,
        } => Algorithm::Bucket {
            rate_milli: (rate_milli / nodes).max(1),
            burst: burst / nodes,
            delay: delay / nodes,
        },
    }
}

/// A rule name as used in metrics and Redis keys.
pub fn check_rule_name(rule: &str) -> Result<(), String> {
    let ok = !rule.is_empty()
        && rule.len() <= 64
        && rule
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
    match ok {
        true => Ok(()),
        false => Err(format!(
            "rule {rule:?}: use 1 to 64 of A-Z a-z 0-9 _ - . (it names the metrics and the Redis keys)"
        )),
    }
}
