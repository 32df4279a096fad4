//! The L2 tier of one engine: the project's Redis client ([`crate::redis_client`]) plus
//! what only the cache needs (key naming, the purges' own connection).

use redis::{FromRedisValue, Script};
use tokio::sync::OnceCell;

use super::metrics::CacheMetrics;
use super::spec::RedisSpec;
use crate::redis_client::RedisClient;

pub use crate::redis_client::{Conn, RedisFail};

/// The L2 tier of one engine.
pub struct RedisTier {
    client: RedisClient,
    /// The purges' own connection (response timeout `purge_timeout`), made on first purge.
    purge_conn: OnceCell<Conn>,
}

impl RedisTier {
    /// A tier for `spec` counting into its engine's `metrics`; opens no socket.
    pub fn new(spec: RedisSpec, metrics: &CacheMetrics) -> Self {
        RedisTier {
            client: RedisClient::new(
                spec,
                "cache",
                metrics.breaker_open.clone(),
                metrics.redis_errors.clone(),
            ),
            purge_conn: OnceCell::new(),
        }
    }

    /// The spec this tier was built from.
    pub fn spec(&self) -> &RedisSpec {
        self.client.spec()
    }

    /// The Redis key of a cache key.
    pub fn key(&self, key: &str) -> String {
        format!("{}{}", self.spec().key_prefix, key)
    }

    /// The Redis key of a cache key's rebuild lock.
    pub fn lock_key(&self, key: &str) -> String {
        format!("{}lock:{}", self.spec().key_prefix, key)
    }

    /// Whether the breaker currently keeps calls away from Redis.
    pub fn breaker_open(&self) -> bool {
        self.client.breaker_open()
    }

    /// URLs of the nodes to try for side connections (pub/sub, per-node SCAN seeds).
    pub fn node_urls(&self) -> Vec<String> {
        self.spec().node_urls()
    }

    /// Sends one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: redis::Cmd) -> Result<T, RedisFail> {
        self.client.query(cmd).await
    }

    /// Runs a Lua script with one key and one argument.
    pub async fn script<T: FromRedisValue>(
        &self,
        script: &Script,
        key: &str,
        arg: &str,
    ) -> Result<T, RedisFail> {
        let mut inv = script.key(key);
        inv.arg(arg);
        self.client
            .run(|mut c| async move { inv.invoke_async(&mut c).await })
            .await
    }

    /// The connection purges use: the same node(s) as the request path, but with
    /// `purge_timeout` as its response timeout and no circuit breaker in front (a purge is
    /// rare and an operator wants it tried). Made on the first purge; callers bound the
    /// wait themselves.
    pub async fn purge_conn(&self) -> Result<Conn, RedisFail> {
        let timeout = self.spec().purge_timeout;
        self.purge_conn
            .get_or_try_init(|| crate::redis_client::open(self.spec(), timeout))
            .await
            .cloned()
    }
}
