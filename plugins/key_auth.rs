//! `key-auth`: the example plugin of the README's "Write your own plugin" walk-through.
//!
//! Access phase: the request must carry one of the configured API keys in a header, or it
//! gets 401. Keys come from an environment variable (never from the config file, never logged)
//! and are compared in constant time, against all of them ([`Secrets`]).
//!
//! ```toml
//! { name = "key-auth", config = { header = "x-api-key", keys_env = "EDGEPROXY_API_KEYS" } }
//! ```

use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Flow, Plugin, PluginFactory, RequestCtx, Response, Shared};
use serde::Deserialize;

use crate::support::secret::Secrets;

/// Config of the `key-auth` plugin: typed, unknown keys rejected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuthConfig {
    /// Header that carries the key.
    #[serde(default = "default_header")]
    pub header: String,
    /// Environment variable holding the accepted keys, comma-separated.
    pub keys_env: String,
}

fn default_header() -> String {
    "x-api-key".to_string()
}

/// Per-request data another plugin can read: which key (by index) was accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthenticatedKey(pub usize);

/// The `key-auth` plugin. Deliberately not `Debug`: it holds the keys.
pub struct KeyAuth {
    header: http::HeaderName,
    keys: Secrets,
}

impl PluginFactory for KeyAuth {
    const NAME: &'static str = "key-auth";
    type Config = KeyAuthConfig;

    fn build(cfg: KeyAuthConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let header = http::HeaderName::try_from(cfg.header.as_str())?;
        let raw = std::env::var(&cfg.keys_env)
            .map_err(|_| format!("environment variable `{}` is not set", cfg.keys_env))?;
        let keys: Vec<String> = raw
            .split(',')
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(String::from)
            .collect();
        if keys.is_empty() {
            return Err(format!("`{}` holds no keys", cfg.keys_env).into());
        }
        Ok(Arc::new(KeyAuth {
            header,
            keys: Secrets::new(keys),
        }))
    }
}

#[async_trait]
impl Plugin for KeyAuth {
    async fn access(&self, req: &RequestHeader, ctx: &mut RequestCtx) -> Result<Flow, BoxError> {
        let given = req.headers.get(&self.header).map(|v| v.as_bytes());
        match given.and_then(|g| self.keys.find(g)) {
            Some(i) => {
                ctx.extensions.insert(AuthenticatedKey(i));
                Ok(Flow::Continue)
            }
            None => {
                // The key itself is never logged.
                tracing::debug!(request_id = %ctx.request_id, client = ?ctx.client_ip(), missing = given.is_none(), "key-auth: key refused");
                Ok(Flow::Respond(
                    Response::text(401, "401 missing or invalid API key\n")?
                        .with_header("www-authenticate", "ApiKey")?,
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plugin() -> KeyAuth {
        KeyAuth {
            header: http::HeaderName::from_static("x-api-key"),
            keys: Secrets::new(["k1", "k2"]),
        }
    }

    #[tokio::test]
    async fn good_key_continues_and_records_which() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        req.insert_header("x-api-key", "k2").unwrap();
        let mut ctx = RequestCtx::for_test();
        let flow = plugin().access(&req, &mut ctx).await.unwrap();
        assert!(matches!(flow, Flow::Continue));
        assert_eq!(
            ctx.extensions.get::<AuthenticatedKey>(),
            Some(&AuthenticatedKey(1))
        );
    }

    #[tokio::test]
    async fn missing_or_wrong_key_is_401() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        let mut ctx = RequestCtx::for_test();
        let flow = plugin().access(&req, &mut ctx).await.unwrap();
        assert!(matches!(flow, Flow::Respond(ref r) if r.status() == 401));
        req.insert_header("x-api-key", "nope").unwrap();
        let flow = plugin().access(&req, &mut ctx).await.unwrap();
        assert!(matches!(flow, Flow::Respond(ref r) if r.status() == 401));
    }
}
