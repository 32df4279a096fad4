//! L2 client: single node (`ConnectionManager`) or Redis Cluster (`ClusterConnection`),
//! created lazily inside whichever tokio runtime first uses it, every call bounded by a
//! timeout and guarded by the circuit breaker.
//!
//! The client's background tasks live in the runtime of its first use; an engine shared by
//! several Pingora services keeps working while that service's runtime is alive.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, FromRedisValue, Pipeline, RedisFuture, Script, Value};
use tokio::sync::OnceCell;

use super::breaker::Breaker;
use super::metrics::CacheMetrics;
use super::spec::{RedisMode, RedisSpec};

/// Why an L2 call produced no answer.
#[derive(Debug, thiserror::Error)]
pub enum RedisFail {
    /// The breaker is open: Redis was not asked.
    #[error("redis circuit breaker is open")]
    BreakerOpen,
    /// The call did not finish within the configured timeout.
    #[error("redis call timed out after {0:?}")]
    Timeout(Duration),
    /// Connecting failed recently; not retried before the back-off ends.
    #[error("redis unavailable (connect failed recently, retrying later)")]
    Backoff,
    /// Redis or the connection reported an error.
    #[error("redis error: {0}")]
    Redis(#[from] redis::RedisError),
}

/// A connection of either kind; cheap to clone.
#[derive(Clone)]
pub enum Conn {
    /// Single node, reconnecting by itself.
    Single(ConnectionManager),
    /// Cluster, following slot moves and failovers by itself.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// The L2 tier of one engine.
pub struct RedisTier {
    spec: RedisSpec,
    conn: OnceCell<Conn>,
    /// The purges' own connection (response timeout `purge_timeout`), made on first purge.
    purge_conn: OnceCell<Conn>,
    retry_at: Mutex<Option<Instant>>,
    breaker: Breaker,
    errors: prometheus::IntCounter,
}

impl RedisTier {
    /// A tier for `spec` counting into its engine's `metrics`; opens no socket.
    pub fn new(spec: RedisSpec, metrics: &CacheMetrics) -> Self {
        let breaker = Breaker::new(
            spec.breaker_failures,
            spec.breaker_cooldown,
            metrics.breaker_open.clone(),
        );
        RedisTier {
            spec,
            conn: OnceCell::new(),
            purge_conn: OnceCell::new(),
            retry_at: Mutex::new(None),
            breaker,
            errors: metrics.redis_errors.clone(),
        }
    }

    /// The spec this tier was built from.
    pub fn spec(&self) -> &RedisSpec {
        &self.spec
    }

    /// The Redis key of a cache key.
    pub fn key(&self, key: &str) -> String {
        format!("{}{}", self.spec.key_prefix, key)
    }

    /// The Redis key of a cache key's rebuild lock.
    pub fn lock_key(&self, key: &str) -> String {
        format!("{}lock:{}", self.spec.key_prefix, key)
    }

    /// Whether the breaker currently keeps calls away from Redis.
    pub fn breaker_open(&self) -> bool {
        self.breaker.is_open()
    }

    /// URLs of the nodes to try for side connections (pub/sub, per-node SCAN seeds).
    pub fn node_urls(&self) -> Vec<String> {
        self.spec.node_urls()
    }

    fn gate(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        self.retry_at.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn connect(&self) -> Result<Conn, RedisFail> {
        if let Some(c) = self.conn.get() {
            return Ok(c.clone());
        }
        if matches!(*self.gate(), Some(t) if Instant::now() < t) {
            return Err(RedisFail::Backoff);
        }
        let ct = self.spec.connect_timeout;
        // Callers queue on the cell; each waits at most `ct` in total, and a queued caller
        // whose turn comes during the back-off fails fast instead of reconnecting again.
        let attempt = self.conn.get_or_try_init(|| async {
            if matches!(*self.gate(), Some(t) if Instant::now() < t) {
                return Err(RedisFail::Backoff);
            }
            let opened = open(&self.spec, self.spec.timeout);
            let res = match tokio::time::timeout(ct, opened).await {
                Ok(r) => r,
                Err(_) => Err(RedisFail::Timeout(ct)),
            };
            if let Err(e) = &res {
                let backoff = self.spec.breaker_cooldown.min(Duration::from_secs(1));
                *self.gate() = Some(Instant::now() + backoff);
                tracing::warn!(error = %e, "cache: cannot connect to redis");
            }
            res
        });
        match tokio::time::timeout(ct, attempt).await {
            Ok(Ok(c)) => Ok(c.clone()),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(RedisFail::Timeout(ct)),
        }
    }

    /// Runs `f` on a connection, bounded by the timeout and accounted in the breaker.
    async fn guarded<T, F, Fut>(&self, f: F) -> Result<T, RedisFail>
    where
        F: FnOnce(Conn) -> Fut,
        Fut: std::future::Future<Output = redis::RedisResult<T>>,
    {
        if !self.breaker.allow() {
            return Err(RedisFail::BreakerOpen);
        }
        let res = match self.connect().await {
            Ok(conn) => match tokio::time::timeout(self.spec.timeout, f(conn)).await {
                Ok(Ok(v)) => Ok(v),
                Ok(Err(e)) => Err(RedisFail::Redis(e)),
                Err(_) => Err(RedisFail::Timeout(self.spec.timeout)),
            },
            Err(e) => Err(e),
        };
        match &res {
            Ok(_) => self.breaker.success(),
            Err(e) => {
                self.errors.inc();
                tracing::debug!(error = %e, "cache: redis call failed");
                self.breaker.failure();
            }
        }
        res
    }

    /// Sends one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T, RedisFail> {
        self.guarded(|mut c| async move { cmd.query_async(&mut c).await })
            .await
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
        self.guarded(|mut c| async move { inv.invoke_async(&mut c).await })
            .await
    }

    /// The connection purges use: the same node(s) as the request path, but with
    /// `purge_timeout` as its response timeout and no circuit breaker in front (a purge is
    /// rare and an operator wants it tried). Made on the first purge; callers bound the
    /// wait themselves.
    pub async fn purge_conn(&self) -> Result<Conn, RedisFail> {
        let timeout = self.spec.purge_timeout;
        self.purge_conn
            .get_or_try_init(|| open(&self.spec, timeout))
            .await
            .cloned()
    }
}

/// Opens a client of `spec`'s kind whose every call gives up after `response_timeout`.
async fn open(spec: &RedisSpec, response_timeout: Duration) -> Result<Conn, RedisFail> {
    let urls = spec.node_urls();
    match &spec.mode {
        RedisMode::Single(_) => {
            let url = urls.first().map(String::as_str).unwrap_or_default();
            let client = redis::Client::open(url)?;
            let cfg = ConnectionManagerConfig::new()
                .set_connection_timeout(spec.connect_timeout)
                .set_response_timeout(response_timeout)
                .set_number_of_retries(2)
                .set_max_delay(200);
            Ok(Conn::Single(
                ConnectionManager::new_with_config(client, cfg).await?,
            ))
        }
        RedisMode::Cluster(_) => {
            let client = ClusterClientBuilder::new(urls)
                .connection_timeout(spec.connect_timeout)
                .response_timeout(response_timeout)
                .retries(2)
                .min_retry_wait(10)
                .max_retry_wait(100)
                .build()?;
            Ok(Conn::Cluster(client.get_async_connection().await?))
        }
    }
}
