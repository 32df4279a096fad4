//! The cross-node rebuild lock: `SET lock:<key> <token> NX PX <ttl>`, released by a
//! compare-and-delete script so that only the owner can release it.

use once_cell::sync::Lazy;
use redis::Script;

use super::redis::{RedisFail, RedisTier};

static RELEASE: Lazy<Script> = Lazy::new(|| {
    Script::new(
        r"if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end",
    )
});

/// Tries to take the rebuild lock of `key` for `token`; `Ok(true)` if taken.
pub async fn try_acquire(redis: &RedisTier, key: &str, token: &str) -> Result<bool, RedisFail> {
    let ttl_ms = u64::try_from(redis.spec().lock_ttl.as_millis())
        .unwrap_or(u64::MAX)
        .max(1);
    let mut cmd = redis::cmd("SET");
    cmd.arg(redis.lock_key(key))
        .arg(token)
        .arg("NX")
        .arg("PX")
        .arg(ttl_ms);
    let reply: Option<String> = redis.query(cmd).await?;
    Ok(reply.is_some())
}

/// Releases the rebuild lock of `key` if `token` still owns it. Errors are only logged:
/// the lock expires by itself.
pub async fn release(redis: &RedisTier, key: &str, token: &str) {
    if let Err(e) = redis
        .script::<i64>(&RELEASE, &redis.lock_key(key), token)
        .await
    {
        tracing::debug!(error = %e, key, "cache: rebuild lock not released (will expire)");
    }
}
