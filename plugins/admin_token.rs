//! `admin-token`: access phase; the request must carry the admin bearer token, else 401.
//!
//! The token comes from the environment variable named in the config (never from the
//! config file, never logged). Building fails when that variable is unset or empty, so
//! `edgeproxy -t` catches a missing token before the admin API opens unprotected.
//!
//! ```toml
//! { name = "admin-token", config = { token_env = "EDGEPROXY_ADMIN_TOKEN" } }
//! # header defaults to "authorization": `Authorization: Bearer <token>`.
//! # With another header (e.g. "x-admin-token") its value is the bare token.
//! ```

use std::sync::Arc;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Flow, Plugin, PluginFactory, RequestCtx, Shared};
use serde::Deserialize;

use crate::support::admin_response;
use crate::support::secret::Secrets;

/// Config of the `admin-token` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminTokenConfig {
    /// Environment variable holding the token.
    pub token_env: String,
    /// Header carrying the token (default `authorization`, as `Bearer <token>`).
    #[serde(default = "default_header")]
    pub header: String,
}

fn default_header() -> String {
    "authorization".to_string()
}

/// The `admin-token` plugin. Deliberately not `Debug`: it holds the secret.
pub struct AdminToken {
    header: http::HeaderName,
    bearer: bool,
    token: Secrets,
}

impl AdminToken {
    /// A plugin checking `header` for `token` (`Bearer <token>` when the header is
    /// `authorization`).
    pub fn new(header: &str, token: &str) -> Result<Self, BoxError> {
        let header = http::HeaderName::try_from(header)
            .map_err(|_| format!("invalid header name {header:?}"))?;
        if token.is_empty() {
            return Err("the admin token is empty".into());
        }
        Ok(AdminToken {
            bearer: header == http::header::AUTHORIZATION,
            header,
            token: Secrets::new([token]),
        })
    }

    fn accepts(&self, req: &RequestHeader) -> bool {
        let Some(value) = req.headers.get(&self.header) else {
            return false;
        };
        let given = value.as_bytes();
        let given = if self.bearer {
            match given.get(..7) {
                Some(scheme) if scheme.eq_ignore_ascii_case(b"bearer ") => &given[7..],
                _ => return false,
            }
        } else {
            given
        };
        self.token.contains(given)
    }
}

impl PluginFactory for AdminToken {
    const NAME: &'static str = "admin-token";
    type Config = AdminTokenConfig;

    fn build(cfg: AdminTokenConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let token = match std::env::var(&cfg.token_env) {
            Ok(t) if !t.trim().is_empty() => t,
            Ok(_) => {
                return Err(format!(
                    "environment variable `{}` (the admin token) is empty",
                    cfg.token_env
                )
                .into())
            }
            Err(_) => {
                return Err(format!(
                    "environment variable `{}` (the admin token) is not set",
                    cfg.token_env
                )
                .into())
            }
        };
        Ok(Arc::new(AdminToken::new(&cfg.header, &token)?))
    }
}

#[async_trait]
impl Plugin for AdminToken {
    async fn access(&self, req: &RequestHeader, _ctx: &mut RequestCtx) -> Result<Flow, BoxError> {
        if self.accepts(req) {
            return Ok(Flow::Continue);
        }
        let resp = admin_response::error(401, "missing or invalid admin token")?;
        let resp = if self.bearer {
            resp.with_header("www-authenticate", "Bearer realm=\"edgeproxy-admin\"")?
        } else {
            resp
        };
        Ok(Flow::Respond(resp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(header: Option<(&str, &str)>) -> RequestHeader {
        let mut r = RequestHeader::build("POST", b"/purge", None).unwrap();
        if let Some((k, v)) = header {
            r.insert_header(k.to_string(), v).unwrap();
        }
        r
    }

    async fn status(p: &AdminToken, r: &RequestHeader) -> u16 {
        match p.access(r, &mut RequestCtx::for_test()).await.unwrap() {
            Flow::Continue => 0,
            Flow::Respond(resp) => resp.status(),
        }
    }

    #[tokio::test]
    async fn bearer_token_required() {
        let p = AdminToken::new("authorization", "s3cret").unwrap();
        assert_eq!(
            status(&p, &req(Some(("authorization", "Bearer s3cret")))).await,
            0
        );
        assert_eq!(
            status(&p, &req(Some(("authorization", "bearer s3cret")))).await,
            0
        );
        for bad in [
            "Bearer s3cre",
            "Bearer s3cret2",
            "s3cret",
            "Basic s3cret",
            "Bearer ",
        ] {
            assert_eq!(
                status(&p, &req(Some(("authorization", bad)))).await,
                401,
                "{bad}"
            );
        }
        assert_eq!(status(&p, &req(None)).await, 401);
    }

    #[tokio::test]
    async fn other_header_carries_the_bare_token() {
        let p = AdminToken::new("x-admin-token", "s3cret").unwrap();
        assert_eq!(status(&p, &req(Some(("x-admin-token", "s3cret")))).await, 0);
        assert_eq!(
            status(&p, &req(Some(("authorization", "Bearer s3cret")))).await,
            401
        );
    }

    #[test]
    fn unset_or_empty_env_var_fails_the_build_without_echoing_the_token() {
        let shared = crate::test_shared();
        let cfg = |env: &str| AdminTokenConfig {
            token_env: env.to_string(),
            header: default_header(),
        };
        let err = AdminToken::build(cfg("EDGEPROXY_TEST_ADMIN_TOKEN_UNSET_3f9a"), &shared)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("EDGEPROXY_TEST_ADMIN_TOKEN_UNSET_3f9a"),
            "{err}"
        );
        assert!(err.contains("not set"), "{err}");
        // An empty variable: PATH-like vars are never empty, so use one set by this test
        // only (unique name; no other test reads it).
        std::env::set_var("EDGEPROXY_TEST_ADMIN_TOKEN_EMPTY_3f9a", " ");
        let err = AdminToken::build(cfg("EDGEPROXY_TEST_ADMIN_TOKEN_EMPTY_3f9a"), &shared)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("is empty"), "{err}");
    }
}
