//! L3: the origin. Callers implement [`Loader`]; [`HttpOrigin`] is a ready-made HTTP one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};

/// What the origin answered for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Loaded {
    /// The value.
    Found(Bytes),
    /// The key does not exist; cached as a negative entry.
    NotFound,
}

/// Why the origin gave no answer (anything but "found" or "not found").
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(pub String);

impl LoadError {
    /// An error with this message.
    pub fn new(msg: impl Into<String>) -> Self {
        LoadError(msg.into())
    }
}

/// The origin (L3) of a lookup, implemented by the caller.
#[async_trait]
pub trait Loader: Send + Sync {
    /// Loads `key` from the source of truth.
    async fn load(&self, key: &str) -> Result<Loaded, LoadError>;
}

/// Limits of an [`HttpOrigin`].
#[derive(Debug, Clone, Copy)]
pub struct HttpOriginLimits {
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout (connect, send, headers and body).
    pub request_timeout: Duration,
    /// Responses with a larger body are errors.
    pub max_body_bytes: usize,
    /// Idle keep-alive connections kept per peer.
    pub max_idle_per_peer: usize,
}

impl Default for HttpOriginLimits {
    fn default() -> Self {
        HttpOriginLimits {
            connect_timeout: Duration::from_millis(500),
            request_timeout: Duration::from_secs(2),
            max_body_bytes: 8 << 20,
            max_idle_per_peer: 32,
        }
    }
}

/// Picks the origin peer for each request (e.g. backed by an upstream group).
pub type PeerFn = Arc<dyn Fn() -> Option<SocketAddr> + Send + Sync>;

/// An HTTP/1.1 origin: `GET http://{peer}{path}` over a keep-alive pool.
/// 200 → `Found(body)`, 404 → `NotFound`, anything else → error.
///
/// As a [`Loader`] it uses the cache key as the path (it must start with `/`); wrap
/// [`HttpOrigin::fetch`] in your own `Loader` to map keys to paths differently.
#[derive(Clone)]
pub struct HttpOrigin {
    client: reqwest::Client,
    peer: PeerFn,
    limits: HttpOriginLimits,
}

impl std::fmt::Debug for HttpOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpOrigin")
            .field("limits", &self.limits)
            .finish()
    }
}

impl HttpOrigin {
    /// An origin whose peer is chosen by `peer` per request. Opens no socket.
    pub fn new(
        peer: impl Fn() -> Option<SocketAddr> + Send + Sync + 'static,
        limits: HttpOriginLimits,
    ) -> Result<Self, LoadError> {
        let client = reqwest::Client::builder()
            .no_proxy()
            .connect_timeout(limits.connect_timeout)
            .timeout(limits.request_timeout)
            .pool_max_idle_per_host(limits.max_idle_per_peer)
            .pool_idle_timeout(Duration::from_secs(60))
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| LoadError::new(format!("cannot build HTTP origin client: {e}")))?;
        Ok(HttpOrigin {
            client,
            peer: Arc::new(peer),
            limits,
        })
    }

    /// GETs `path` (starting with `/`, already percent-encoded) from the current peer.
    pub async fn fetch(&self, path: &str) -> Result<Loaded, LoadError> {
        if !path.starts_with('/') {
            return Err(LoadError::new(format!(
                "origin path {path:?} must start with '/'"
            )));
        }
        let peer = (self.peer)().ok_or_else(|| LoadError::new("no origin peer available"))?;
        let url = format!("http://{peer}{path}");
        let mut resp = self
            .client
            .get(&url)
            .send()
            .await
            .map_err(|e| LoadError::new(format!("GET {url}: {e}")))?;
        match resp.status().as_u16() {
            200 => {}
            404 => return Ok(Loaded::NotFound),
            s => return Err(LoadError::new(format!("GET {url}: status {s}"))),
        }
        let max = self.limits.max_body_bytes;
        if resp.content_length().is_some_and(|n| n > max as u64) {
            return Err(LoadError::new(format!(
                "GET {url}: body larger than {max} bytes"
            )));
        }
        // Sized from Content-Length when there is one (checked against `max` above).
        let expected = resp.content_length().and_then(|n| usize::try_from(n).ok());
        let mut body = BytesMut::with_capacity(expected.unwrap_or(0));
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| LoadError::new(format!("GET {url}: reading body: {e}")))?
        {
            if body.len() + chunk.len() > max {
                return Err(LoadError::new(format!(
                    "GET {url}: body larger than {max} bytes"
                )));
            }
            body.extend_from_slice(&chunk);
        }
        // The cache keeps what this returns: a body read in several chunks grew its buffer
        // by doubling, so keep an exact copy rather than up to twice the bytes.
        if body.capacity() > body.len() {
            return Ok(Loaded::Found(Bytes::copy_from_slice(&body)));
        }
        Ok(Loaded::Found(body.freeze()))
    }
}

#[async_trait]
impl Loader for HttpOrigin {
    async fn load(&self, key: &str) -> Result<Loaded, LoadError> {
        self.fetch(key).await
    }
}
