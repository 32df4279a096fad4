//! Per-rule metrics, and which mode a Redis rule is in: the shared limit in Redis, or its
//! declared fallback while Redis does not answer. A switch either way is logged once and
//! counted; the gauge says which mode is in force.

use std::sync::atomic::{AtomicBool, Ordering};

use edgeproxy::kit::metrics::{counter_vec, gauge_vec};
use edgeproxy::kit::RedisFail;
use once_cell::sync::Lazy;
use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec};

/// Requests by rule and result: `allowed`, `limited`, `dry_run_limited` (would have been
/// limited), `skipped` (no key, `missing_key = "skip"`), `fail_open` (Redis down, passed
/// unchecked).
pub static REQUESTS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_rate_limit_requests_total",
        "Requests seen by a rate-limit rule, by rule and result",
        &["rule", "result"],
    )
});

/// 1 while a Redis rule runs on its fallback.
pub static FALLBACK: Lazy<IntGaugeVec> = Lazy::new(|| {
    gauge_vec(
        "edgeproxy_rate_limit_fallback",
        "1 while a Redis rate-limit rule runs on its fallback (Redis unavailable)",
        &["rule"],
    )
});

/// Mode switches by rule and the mode switched to (`redis`, `fallback`).
pub static SWITCHES: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_rate_limit_mode_switches_total",
        "Switches of a Redis rate-limit rule between Redis and its fallback",
        &["rule", "to"],
    )
});

/// Failed or timed-out Redis calls, by rule.
pub static REDIS_ERRORS: Lazy<IntCounterVec> = Lazy::new(|| {
    counter_vec(
        "edgeproxy_rate_limit_redis_errors_total",
        "Redis calls of a rate-limit rule that failed or timed out",
        &["rule"],
    )
});

/// 1 while a rule's Redis circuit breaker is open.
pub static BREAKER_OPEN: Lazy<IntGaugeVec> = Lazy::new(|| {
    gauge_vec(
        "edgeproxy_rate_limit_redis_breaker_open",
        "1 while a rate-limit rule's Redis circuit breaker is open",
        &["rule"],
    )
});

/// One rule's counters, resolved once.
pub struct RuleMetrics {
    /// Within the limit.
    pub allowed: IntCounter,
    /// Refused.
    pub limited: IntCounter,
    /// Over the limit under `dry_run`.
    pub dry_run_limited: IntCounter,
    /// No key, skipped.
    pub skipped: IntCounter,
    /// Passed unchecked because Redis did not answer (`fail_open`).
    pub fail_open: IntCounter,
}

impl RuleMetrics {
    /// The counters of `rule`.
    pub fn new(rule: &str) -> Self {
        let c = |result: &str| REQUESTS.with_label_values(&[rule, result]);
        RuleMetrics {
            allowed: c("allowed"),
            limited: c("limited"),
            dry_run_limited: c("dry_run_limited"),
            skipped: c("skipped"),
            fail_open: c("fail_open"),
        }
    }
}

/// Redis or fallback, for one rule instance.
pub struct Mode {
    rule: String,
    /// What the fallback does, for the log line.
    fallback_policy: String,
    on_fallback: AtomicBool,
    gauge: IntGauge,
    to_redis: IntCounter,
    to_fallback: IntCounter,
}

impl Mode {
    /// Starts in Redis mode.
    pub fn new(rule: &str, fallback_policy: String) -> Self {
        Mode {
            rule: rule.to_string(),
            fallback_policy,
            on_fallback: AtomicBool::new(false),
            gauge: FALLBACK.with_label_values(&[rule]),
            to_redis: SWITCHES.with_label_values(&[rule, "redis"]),
            to_fallback: SWITCHES.with_label_values(&[rule, "fallback"]),
        }
    }

    /// Redis answered: back to Redis mode if the rule was on its fallback.
    pub fn redis_ok(&self) {
        if self.on_fallback.load(Ordering::Relaxed)
            && self.on_fallback.swap(false, Ordering::AcqRel)
        {
            self.gauge.dec();
            self.to_redis.inc();
            tracing::info!(rule = %self.rule, "rate-limit: redis answers again, the shared limit is back in force");
        }
    }

    /// Redis did not answer: to the fallback if the rule was on Redis.
    pub fn redis_failed(&self, e: &RedisFail) {
        if !self.on_fallback.load(Ordering::Relaxed)
            && !self.on_fallback.swap(true, Ordering::AcqRel)
        {
            self.gauge.inc();
            self.to_fallback.inc();
            tracing::warn!(rule = %self.rule, error = %e, "rate-limit: redis unavailable, {} until it answers again", self.fallback_policy);
        }
    }

    /// Whether the rule is on its fallback.
    pub fn on_fallback(&self) -> bool {
        self.on_fallback.load(Ordering::Relaxed)
    }
}

impl Drop for Mode {
    fn drop(&mut self) {
        if *self.on_fallback.get_mut() {
            self.gauge.dec();
        }
    }
}
