//! `key-auth`: the example plugin of the README's "Write your own plugin" walk-through.
//!
//! The request must carry one of the configured API keys in a header, once, or it gets 401
//! (400 when the header is there twice: the upstream could read the other one). Keys come
//! from an environment variable (never from the config file, never logged), each
//! optionally named (`alice:KEY`), and are compared in constant time, against all of them
//! ([`Secrets`]). The accepted key's name becomes `$consumer` (rate-limit keys, hash keys,
//! access logs); `hide_credentials = true` removes the header before the request goes
//! upstream. It runs in the rewrite phase, the one where a plugin may change the request.
//!
//! ```toml
//! { name = "key-auth", config = { header = "x-api-key", keys_env = "EDGEPROXY_API_KEYS" } }
//! ```

use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Flow, Plugin, PluginFactory, RequestCtx, Response, Shared};
use serde::Deserialize;

use crate::support::credentials::{self, Found};
use crate::support::secret::Secrets;

/// Config of the `key-auth` plugin: typed, unknown keys rejected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyAuthConfig {
    /// Header that carries the key.
    #[serde(default = "default_header")]
    pub header: String,
    /// Environment variable holding the accepted keys, comma-separated; each `NAME:KEY`
    /// or just `KEY` (then named `key1`, `key2`, … by position).
    pub keys_env: String,
    /// Remove the key's header before the request goes upstream (default `false`).
    #[serde(default)]
    pub hide_credentials: bool,
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
    /// The consumer name of each key, by index.
    names: Vec<String>,
    hide_credentials: bool,
}

/// `NAME:KEY` or `KEY` entries → (names, keys); an entry's name defaults to `key<N>`.
fn parse_keys(raw: &str) -> (Vec<String>, Vec<String>) {
    raw.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .enumerate()
        .map(|(i, entry)| match entry.split_once(':') {
            Some((name, key)) if !name.trim().is_empty() => {
                (name.trim().to_string(), key.trim().to_string())
            }
            _ => (format!("key{}", i + 1), entry.to_string()),
        })
        .unzip()
}

impl PluginFactory for KeyAuth {
    const NAME: &'static str = "key-auth";
    type Config = KeyAuthConfig;

    fn build(cfg: KeyAuthConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let header = http::HeaderName::try_from(cfg.header.as_str())?;
        let raw = std::env::var(&cfg.keys_env)
            .map_err(|_| format!("environment variable `{}` is not set", cfg.keys_env))?;
        let (names, keys) = parse_keys(&raw);
        if keys.is_empty() || keys.iter().any(String::is_empty) {
            return Err(format!("`{}` holds no keys, or an empty one", cfg.keys_env).into());
        }
        Ok(Arc::new(KeyAuth {
            header,
            keys: Secrets::new(keys),
            names,
            hide_credentials: cfg.hide_credentials,
        }))
    }
}

#[async_trait]
impl Plugin for KeyAuth {
    async fn rewrite(
        &self,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<Flow, BoxError> {
        let given = match credentials::header(req, &self.header) {
            Found::One(g) => Some(g),
            Found::None => None,
            Found::Many => {
                return Ok(Flow::Respond(Response::text(
                    400,
                    "400 more than one API key\n",
                )?))
            }
        };
        match given.and_then(|g| self.keys.find(g)) {
            Some(i) => {
                ctx.extensions.insert(AuthenticatedKey(i));
                if let Some(name) = self.names.get(i) {
                    ctx.set_consumer(name.as_str());
                }
                if self.hide_credentials {
                    req.remove_header(&self.header);
                }
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

    fn plugin(hide: bool) -> KeyAuth {
        let (names, keys) = parse_keys("alice:k1, k2");
        KeyAuth {
            header: http::HeaderName::from_static("x-api-key"),
            keys: Secrets::new(keys),
            names,
            hide_credentials: hide,
        }
    }

    fn req(keys: &[&str]) -> RequestHeader {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for k in keys {
            req.append_header("x-api-key", *k).unwrap();
        }
        req
    }

    #[tokio::test]
    async fn good_key_continues_names_the_consumer_and_records_which() {
        let mut ctx = RequestCtx::for_test();
        let mut r = req(&["k2"]);
        let flow = plugin(false).rewrite(&mut r, &mut ctx).await.unwrap();
        assert!(matches!(flow, Flow::Continue));
        assert_eq!(
            ctx.extensions.get::<AuthenticatedKey>(),
            Some(&AuthenticatedKey(1))
        );
        assert_eq!(ctx.consumer(), Some("key2"));
        assert!(r.headers.contains_key("x-api-key"));
        let mut ctx = RequestCtx::for_test();
        let mut r = req(&["k1"]);
        plugin(true).rewrite(&mut r, &mut ctx).await.unwrap();
        assert_eq!(ctx.consumer(), Some("alice"));
        assert!(!r.headers.contains_key("x-api-key"), "hide_credentials");
    }

    #[tokio::test]
    async fn missing_or_wrong_key_is_401_and_two_are_400() {
        for (keys, status) in [
            (&[][..], 401),
            (&["nope"][..], 401),
            (&["k1", "k1"][..], 400),
            (&["k1", "forged"][..], 400),
        ] {
            let mut ctx = RequestCtx::for_test();
            let flow = plugin(false)
                .rewrite(&mut req(keys), &mut ctx)
                .await
                .unwrap();
            assert!(
                matches!(flow, Flow::Respond(ref r) if r.status() == status),
                "{keys:?}"
            );
            assert_eq!(ctx.consumer(), None);
        }
    }
}
