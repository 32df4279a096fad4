//! A small Consul KV client for blocking reads of one prefix (`?recurse&index=N&wait=…`).
//!
//! Written on `reqwest` rather than a Consul crate so that `X-Consul-Index` is read on
//! every answer, including 404 (empty prefix), and nothing panics on odd headers.

use std::time::Duration;

use super::spec::ConsulSpec;
use super::upsync::KvEntry;

/// Timeout for a non-blocking read (the first read, or after an index reset).
pub const PLAIN_READ_TIMEOUT: Duration = Duration::from_secs(5);

/// Why Consul could not be read or used.
#[derive(Debug, thiserror::Error)]
pub enum ConsulError {
    /// Connection refused, timeout, or another transport error.
    #[error("cannot reach Consul at {address}: {reason}")]
    Transport {
        /// Consul address.
        address: String,
        /// What went wrong.
        reason: String,
    },
    /// Consul answered with an unexpected status.
    #[error("Consul answered {status} for {url}: {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// The request URL (no token).
        url: String,
        /// Start of the body.
        body: String,
    },
    /// The body was not the documented JSON.
    #[error("cannot decode Consul answer from {url}: {reason}")]
    Decode {
        /// The request URL.
        url: String,
        /// Decoder message.
        reason: String,
    },
    /// `strong_dependency = true` and the first read failed.
    #[error(
        "group `{group}`: Consul is a strong dependency and the first read failed: {source}; \
             hint: start Consul, or set strong_dependency = false to start from the dump file \
             or the static servers"
    )]
    StrongDependency {
        /// Group name.
        group: String,
        /// The read error.
        #[source]
        source: Box<ConsulError>,
    },
    /// The group has no `consul` section.
    #[error("group `{0}` has no Consul configuration")]
    NotConfigured(String),
}

/// `X-Consul-Index` of an answer (0 when absent or not a number).
pub fn consul_index(resp: &reqwest::Response) -> u64 {
    resp.headers()
        .get("X-Consul-Index")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0)
}

/// The answer to one KV read.
#[derive(Debug, Clone)]
pub struct KvRead {
    /// Entries under the prefix (empty on 404).
    pub entries: Vec<KvEntry>,
    /// `X-Consul-Index` of the answer (0 when absent).
    pub index: u64,
}

/// A client for one group's prefix.
#[derive(Debug, Clone)]
pub struct ConsulClient {
    http: reqwest::Client,
    spec: ConsulSpec,
}

impl ConsulClient {
    /// A client for `spec` (no I/O yet).
    pub fn new(spec: ConsulSpec) -> Result<Self, ConsulError> {
        let http = reqwest::Client::builder()
            .pool_idle_timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ConsulError::Transport {
                address: spec.address.clone(),
                reason: e.to_string(),
            })?;
        Ok(ConsulClient { http, spec })
    }

    /// Reads the prefix. With `index > 0` this is a blocking query that returns when the
    /// prefix changes past `index` or after `wait`; `index == 0` is a plain read.
    pub async fn read(&self, index: u64) -> Result<KvRead, ConsulError> {
        let base = self.spec.address.trim_end_matches('/');
        let mut url = format!("{base}/v1/kv/{}?recurse", self.spec.prefix);
        let timeout = if index > 0 {
            let wait = self.spec.wait.max(Duration::from_secs(1));
            url.push_str(&format!("&index={index}&wait={}s", wait.as_secs()));
            wait + wait / 16 + Duration::from_secs(1)
        } else {
            PLAIN_READ_TIMEOUT
        };
        let mut req = self.http.get(&url).timeout(timeout);
        if let Some(t) = &self.spec.token {
            req = req.header("X-Consul-Token", t);
        }
        let transport = |e: reqwest::Error| ConsulError::Transport {
            address: self.spec.address.clone(),
            reason: if e.is_timeout() {
                format!("no answer within {timeout:?}")
            } else {
                e.to_string()
            },
        };
        let resp = req.send().await.map_err(transport)?;
        let index = consul_index(&resp);
        let status = resp.status();
        let body = resp.bytes().await.map_err(transport)?;
        if status == reqwest::StatusCode::NOT_FOUND {
            return Ok(KvRead {
                entries: Vec::new(),
                index,
            });
        }
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
            return Err(ConsulError::Status {
                status: status.as_u16(),
                url,
                body: text,
            });
        }
        let entries = serde_json::from_slice(&body).map_err(|e| ConsulError::Decode {
            url,
            reason: e.to_string(),
        })?;
        Ok(KvRead { entries, index })
    }

    /// The Consul settings this client uses.
    pub fn spec(&self) -> &ConsulSpec {
        &self.spec
    }
}
