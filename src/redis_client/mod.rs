//! The one Redis client setup of the project: single node (`ConnectionManager`) or Redis
//! Cluster (`ClusterConnection`), created lazily inside whichever tokio runtime first uses
//! it (Pingora services each have their own), every call bounded by a timeout and guarded
//! by a circuit breaker, a failed connect retried only after a back-off. The cache's L2
//! tier and the gateway plugins (`rate-limit`, `gray-release`) use it.
//!
//! The client's background tasks live in the runtime of its first use; a client shared by
//! several Pingora services keeps working while that service's runtime is alive.

mod breaker;
mod conn;
mod spec;

pub use breaker::Breaker;
pub use conn::{open, Conn};
pub use spec::{node_url, RedisMode, RedisSpec, SeedSource};

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use redis::{Cmd, FromRedisValue};
use tokio::sync::OnceCell;

/// Why a Redis call produced no answer.
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

/// A lazily connected Redis client with a timeout and a circuit breaker.
pub struct RedisClient {
    spec: RedisSpec,
    conn: OnceCell<Conn>,
    retry_at: Mutex<Option<Instant>>,
    breaker: Breaker,
    errors: prometheus::IntCounter,
    label: Arc<str>,
}

impl RedisClient {
    /// A client for `spec`; opens no socket. `label` names the owner in log lines; the
    /// breaker raises `breaker_open` while open, and failed calls count into `errors`.
    pub fn new(
        spec: RedisSpec,
        label: &str,
        breaker_open: prometheus::IntGauge,
        errors: prometheus::IntCounter,
    ) -> Self {
        let label: Arc<str> = Arc::from(label);
        let breaker = Breaker::new(
            spec.breaker_failures,
            spec.breaker_cooldown,
            breaker_open,
            label.clone(),
        );
        RedisClient {
            spec,
            conn: OnceCell::new(),
            retry_at: Mutex::new(None),
            breaker,
            errors,
            label,
        }
    }

    /// The spec this client was built from.
    pub fn spec(&self) -> &RedisSpec {
        &self.spec
    }

    /// Whether the breaker currently keeps calls away from Redis (open or half-open).
    pub fn breaker_open(&self) -> bool {
        self.breaker.is_open()
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
                tracing::warn!(error = %e, "{}: cannot connect to redis", self.label);
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
    pub async fn run<T, F, Fut>(&self, f: F) -> Result<T, RedisFail>
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
                tracing::debug!(error = %e, "{}: redis call failed", self.label);
                self.breaker.failure();
            }
        }
        res
    }

    /// Sends one command.
    pub async fn query<T: FromRedisValue>(&self, cmd: Cmd) -> Result<T, RedisFail> {
        self.run(|mut c| async move { cmd.query_async(&mut c).await })
            .await
    }
}
