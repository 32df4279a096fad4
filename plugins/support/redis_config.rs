//! The `redis = { … }` table of gateway plugins (`rate-limit`, `gray-release`): where Redis
//! is and how long a call may take, turned into the project's one Redis client
//! ([`edgeproxy::kit::RedisClient`], the same setup as the cache's L2).
//!
//! ```toml
//! redis = { addresses = ["127.0.0.1:6379"] }
//! redis = { mode = "cluster", addresses = ["10.0.0.1:7000", "10.0.0.2:7000"], timeout = "50ms" }
//! ```

use std::time::Duration;

use edgeproxy::kit::de_duration;
use edgeproxy::kit::{node_url, RedisClient, RedisMode, RedisSpec};
use serde::Deserialize;

/// Single node or cluster.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// One server (`addresses` has one entry).
    #[default]
    Single,
    /// Redis Cluster; `addresses` are seed nodes.
    Cluster,
}

/// Config of a plugin's Redis connection.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedisConfig {
    /// `host:port` or `redis://host:port/db` (one for `single`, seeds for `cluster`).
    pub addresses: Vec<String>,
    /// `single` (default) or `cluster`.
    #[serde(default)]
    pub mode: Mode,
    /// Upper bound of one call (default `"50ms"`).
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Upper bound of connecting (default `"500ms"`).
    #[serde(default = "default_connect_timeout", deserialize_with = "de_duration")]
    pub connect_timeout: Duration,
    /// Consecutive failures that open the circuit breaker (default 3).
    #[serde(default = "default_breaker_failures")]
    pub breaker_failures: u32,
    /// How long the breaker stays open before one call probes Redis again (default `"1s"`).
    #[serde(default = "default_breaker_cooldown", deserialize_with = "de_duration")]
    pub breaker_cooldown: Duration,
}

fn default_timeout() -> Duration {
    Duration::from_millis(50)
}
fn default_connect_timeout() -> Duration {
    Duration::from_millis(500)
}
fn default_breaker_failures() -> u32 {
    3
}
fn default_breaker_cooldown() -> Duration {
    Duration::from_secs(1)
}

impl RedisConfig {
    /// The client spec, or why the config cannot be one.
    pub fn spec(&self) -> Result<RedisSpec, String> {
        let mut urls = Vec::new();
        for a in &self.addresses {
            urls.push(node_url(a).ok_or_else(|| {
                format!("redis: invalid address {a:?} (write host:port or redis://host:port/db)")
            })?);
        }
        let mode = match (self.mode, urls.len()) {
            (_, 0) => return Err("redis: `addresses` is empty".into()),
            (Mode::Single, 1) => RedisMode::Single(urls.remove(0)),
            (Mode::Single, _) => {
                return Err(
                    "redis: mode \"single\" takes one address (mode = \"cluster\" for seeds)"
                        .into(),
                )
            }
            (Mode::Cluster, _) => RedisMode::Cluster(urls),
        };
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err("redis: `timeout` and `connect_timeout` must be more than 0".into());
        }
        if self.breaker_failures == 0 {
            return Err("redis: `breaker_failures` must be at least 1".into());
        }
        let mut spec = RedisSpec::new(mode);
        spec.timeout = self.timeout;
        spec.connect_timeout = self.connect_timeout;
        spec.breaker_failures = self.breaker_failures;
        spec.breaker_cooldown = self.breaker_cooldown;
        Ok(spec)
    }

    /// A client for this config; `label` names its owner in log lines. Opens no socket.
    pub fn client(
        &self,
        label: &str,
        breaker_open: prometheus::IntGauge,
        errors: prometheus::IntCounter,
    ) -> Result<RedisClient, String> {
        Ok(RedisClient::new(self.spec()?, label, breaker_open, errors))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(json: &str) -> Result<RedisConfig, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn specs_from_configs() {
        let spec = cfg(r#"{ "addresses": ["127.0.0.1:6379"] }"#)
            .unwrap()
            .spec()
            .unwrap();
        assert_eq!(
            spec.mode,
            RedisMode::Single("redis://127.0.0.1:6379".into())
        );
        assert_eq!(spec.timeout, Duration::from_millis(50));
        let c = cfg(r#"{ "mode": "cluster", "addresses": ["a:1", "b:2"], "timeout": "20ms" }"#)
            .unwrap();
        let spec = c.spec().unwrap();
        assert_eq!(
            spec.mode,
            RedisMode::Cluster(vec!["redis://a:1".into(), "redis://b:2".into()])
        );
        assert_eq!(spec.timeout, Duration::from_millis(20));
        for (bad, why) in [
            (r#"{ "addresses": [] }"#, "empty"),
            (r#"{ "addresses": ["a:1", "b:2"] }"#, "takes one address"),
            (r#"{ "addresses": ["nohost"] }"#, "invalid address"),
            (
                r#"{ "addresses": ["a:1"], "timeout": "0s" }"#,
                "more than 0",
            ),
        ] {
            let e = cfg(bad).unwrap().spec().unwrap_err();
            assert!(e.contains(why), "{bad}: {e}");
        }
        assert!(cfg(r#"{ "addresses": ["a:1"], "tiemout": "1s" }"#)
            .unwrap_err()
            .contains("unknown field `tiemout`"));
    }
}
