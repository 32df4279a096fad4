//! `jwt-auth`: the request must carry a valid JSON Web Token (RFC 7519), or it gets 401.
//!
//! - **Algorithms** are configured explicitly (`HS256`, `HS384`, `HS512`, `RS256`, `ES256`);
//!   the token's `alg` header must be one of them, so `alg: none` is always refused. One key
//!   source per instance, of the algorithms' family: an HMAC secret from an environment
//!   variable (`secret_env`, HS* only) or a JWKS file (`jwks_file`, RS256/ES256 only, keys
//!   selected by `kid`, reloaded on change without blocking requests; carried across
//!   `-s reload` while the path and `check_every` are unchanged, read again at the reload
//!   when the file changed). A public key can thus
//!   never be used as an HMAC secret (RS→HS alg confusion).
//! - **Checks**: signature, `exp` and `nbf` with a leeway (default 30 s), `iss` and `aud`
//!   when configured; a token without `exp` is refused unless `require_exp = false`.
//! - **Token** from `Authorization: Bearer`, a cookie or a query argument (`token_sources`,
//!   default `["bearer"]`): exactly one, once — two `Authorization` fields, a cookie or
//!   argument given twice, or tokens in two sources get 400 (`invalid_request`, RFC 6750
//!   §2). `hide_credentials = true` removes it before the request goes upstream.
//! - **Claims**: [`JwtClaims`] (subject and the claims named in `claims`) goes into
//!   `ctx.extensions`, and the same claims become variables (`$jwt_sub`, `$jwt_NAME`) for
//!   hash keys, rate-limit keys and access logs; the subject is also `$consumer`.
//!   `claims_to_headers` copies claims into upstream request headers, after removing
//!   whatever the client sent under those names or names an upstream folds into them
//!   (`X_User_Id`); a `Connection` header naming one of them is refused (400). Claims that
//!   are not printable ASCII are left out.
//! - **401** with `WWW-Authenticate: Bearer realm="…"` when there is no token, plus
//!   `error="invalid_token", error_description="…"` (RFC 6750 §3) when it is invalid. The
//!   token is never echoed nor logged.
//!
//! **Phase**: the check runs in the *rewrite* phase, because only there can a plugin change
//! request headers (`access` gets `&RequestHeader`). It therefore runs before every access
//! plugin (`ip-restriction`, `waf`) of the chain, and the claim headers it sets are visible
//! to later plugins and to hash keys (`$http_x_user_id`).
//!
//! ```toml
//! { name = "jwt-auth", config = { algorithms = ["RS256", "ES256"], jwks_file = "jwks.json", issuer = "https://id.example.com/", claims_to_headers = { sub = "x-user-id" } } }
//! ```

mod claims;
mod jwks;
mod token;
mod verify;

pub use claims::JwtClaims;
pub use jwks::{JwksFile, KeySet};
pub use token::Source;
pub use verify::{Rejection, Verifier};

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Flow, Plugin, PluginFactory, RequestCtx, Response, Shared};
use http::HeaderName;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, Validation};
use serde::Deserialize;

use crate::support::credentials::{self, Found};
use verify::Keys;

use crate::support::carried::{carry_try, Origin};

/// Headers `claims_to_headers` may not set: message framing, routing and hop-by-hop
/// headers, whose value must never come from a token.
const RESERVED_HEADERS: [&str; 10] = [
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
    "authorization",
];

/// Shortest accepted HMAC secret, in bytes (RFC 7518 §3.2: at least the hash size).
pub const MIN_SECRET_BYTES: usize = 32;

/// Config of the `jwt-auth` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtAuthConfig {
    /// Accepted algorithms: `HS256`, `HS384`, `HS512` (with `secret_env`), `RS256`, `ES256`
    /// (with `jwks_file`).
    pub algorithms: Vec<String>,
    /// Environment variable holding the HMAC secret (raw bytes, at least 32).
    pub secret_env: Option<String>,
    /// JWKS file of the public keys (relative to the config's directory).
    pub jwks_file: Option<String>,
    /// Where the token is looked for, in order: `"bearer"`, `"cookie:NAME"`, `"query:NAME"`.
    #[serde(default = "default_sources")]
    pub token_sources: Vec<Source>,
    /// Clock skew tolerated on `exp` and `nbf` (default `"30s"`).
    #[serde(
        default = "default_leeway",
        deserialize_with = "edgeproxy::kit::de_duration"
    )]
    pub leeway: Duration,
    /// Required `iss`.
    pub issuer: Option<String>,
    /// Required audience: `aud` must be (or contain) it.
    pub audience: Option<String>,
    /// Refuse tokens without `exp` (default `true`).
    #[serde(default = "default_true")]
    pub require_exp: bool,
    /// Claims copied into [`JwtClaims`] for later plugins (`sub` always is).
    #[serde(default)]
    pub claims: Vec<String>,
    /// Claim → upstream request header, e.g. `{ sub = "x-user-id" }`.
    #[serde(default)]
    pub claims_to_headers: BTreeMap<String, String>,
    /// `realm` of the `WWW-Authenticate` challenge (default `"edgeproxy"`).
    #[serde(default = "default_realm")]
    pub realm: String,
    /// Remove the token from the request before it goes upstream (the `Authorization`
    /// field, the cookie or the query argument it came in; default `false`).
    #[serde(default)]
    pub hide_credentials: bool,
    /// Longest accepted token, in bytes (default 8192).
    #[serde(default = "default_max_token_bytes")]
    pub max_token_bytes: usize,
    /// How often at most the JWKS file's modification time is checked (default `"1s"`).
    #[serde(
        default = "default_check_every",
        deserialize_with = "edgeproxy::kit::de_duration"
    )]
    pub check_every: Duration,
}

fn default_sources() -> Vec<Source> {
    vec![Source::Bearer]
}
fn default_leeway() -> Duration {
    Duration::from_secs(30)
}
fn default_true() -> bool {
    true
}
fn default_realm() -> String {
    "edgeproxy".to_string()
}
fn default_max_token_bytes() -> usize {
    8192
}
fn default_check_every() -> Duration {
    Duration::from_secs(1)
}

/// The `jwt-auth` plugin. Deliberately not `Debug`: it may hold a secret.
pub struct JwtAuth {
    verifier: Verifier,
    sources: Vec<Source>,
    claim_names: Vec<String>,
    /// `(claim, variable)`: `("role", "jwt_role")`, for the claims in `claim_names`.
    claim_vars: Vec<(String, String)>,
    headers: Vec<(String, HeaderName)>,
    /// The names in `headers`, which `Connection` may not name.
    header_names: Vec<HeaderName>,
    hide_credentials: bool,
    /// `Bearer realm="…"`.
    challenge: String,
}

impl PluginFactory for JwtAuth {
    const NAME: &'static str = "jwt-auth";
    type Config = JwtAuthConfig;

    fn build(cfg: JwtAuthConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        if jsonwebtoken::crypto::CryptoProvider::try_get_default().is_none() {
            return Err(
                "jsonwebtoken has no crypto backend (build with its `rust_crypto` feature only)"
                    .into(),
            );
        }
        let algorithms = parse_algorithms(&cfg.algorithms)?;
        let hmac = algorithms
            .iter()
            .any(|a| a.family() == AlgorithmFamily::Hmac);
        let keys = match (&cfg.secret_env, &cfg.jwks_file) {
            (Some(var), None) => {
                if algorithms
                    .iter()
                    .any(|a| a.family() != AlgorithmFamily::Hmac)
                {
                    return Err("`secret_env` verifies HS256/HS384/HS512 only; RS256/ES256 need `jwks_file`".into());
                }
                let secret = std::env::var_os(var)
                    .ok_or_else(|| format!("environment variable `{var}` is not set"))?;
                let secret = secret.as_encoded_bytes();
                if secret.len() < MIN_SECRET_BYTES {
                    return Err(format!(
                        "the secret in `{var}` is shorter than {MIN_SECRET_BYTES} bytes"
                    )
                    .into());
                }
                Keys::Secret(DecodingKey::from_secret(secret)?)
            }
            (None, Some(file)) => {
                if hmac {
                    return Err(
                        "`jwks_file` verifies RS256/ES256 only; HS* need `secret_env`".into(),
                    );
                }
                let path = shared.resolve_path(file);
                let key = format!("jwks:{}:{:?}", path.display(), cfg.check_every);
                let (jwks, origin) = carry_try(shared, &key, || {
                    JwksFile::open(path, cfg.check_every).map_err(|e| format!("jwks_file: {e}"))
                })?;
                if origin == Origin::Kept {
                    jwks.reload_if_changed();
                }
                Keys::Jwks(jwks)
            }
            _ => return Err("set exactly one of `secret_env` and `jwks_file`".into()),
        };
        if cfg.token_sources.is_empty() {
            return Err("`token_sources` is empty".into());
        }
        if cfg
            .realm
            .chars()
            .any(|c| c == '"' || c == '\\' || !(c == ' ' || c.is_ascii_graphic()))
        {
            return Err("`realm` may hold printable ASCII only, without `\"` and `\\`".into());
        }
        let mut headers = Vec::new();
        for (claim, header) in &cfg.claims_to_headers {
            let name = HeaderName::try_from(header.as_str())
                .map_err(|_| format!("claims_to_headers: `{header}` is not a header name"))?;
            if RESERVED_HEADERS.contains(&name.as_str()) {
                return Err(
                    format!("claims_to_headers: `{header}` cannot be set from a claim").into(),
                );
            }
            headers.push((claim.clone(), name));
        }
        let mut claim_names = cfg.claims.clone();
        claim_names.extend(cfg.claims_to_headers.keys().cloned());
        claim_names.sort();
        claim_names.dedup();
        let template = validation(&cfg);
        let claim_vars = claim_names
            .iter()
            .filter(|c| *c != "sub")
            .map(|c| (c.clone(), format!("jwt_{c}")))
            .collect();
        Ok(Arc::new(JwtAuth {
            verifier: Verifier::new(keys, &algorithms, &template, cfg.max_token_bytes),
            sources: cfg.token_sources,
            claim_names,
            claim_vars,
            header_names: headers.iter().map(|(_, h)| h.clone()).collect(),
            headers,
            hide_credentials: cfg.hide_credentials,
            challenge: format!("Bearer realm=\"{}\"", cfg.realm),
        }))
    }
}

/// The supported algorithms, parsed; an error names the first unsupported one.
fn parse_algorithms(names: &[String]) -> Result<Vec<Algorithm>, String> {
    const SUPPORTED: [Algorithm; 5] = [
        Algorithm::HS256,
        Algorithm::HS384,
        Algorithm::HS512,
        Algorithm::RS256,
        Algorithm::ES256,
    ];
    if names.is_empty() {
        return Err("`algorithms` is empty".into());
    }
    names
        .iter()
        .map(|n| {
            n.parse::<Algorithm>()
                .ok()
                .filter(|a| SUPPORTED.contains(a))
                .ok_or_else(|| {
                    format!("algorithm `{n}` is not supported (HS256, HS384, HS512, RS256, ES256)")
                })
        })
        .collect()
}

/// The claim checks of `cfg`; `algorithms` is filled per algorithm by [`Verifier::new`].
fn validation(cfg: &JwtAuthConfig) -> Validation {
    let mut v = Validation::new(Algorithm::HS256);
    v.leeway = cfg.leeway.as_secs();
    v.validate_exp = true;
    v.validate_nbf = true;
    let mut required: Vec<&str> = Vec::new();
    if cfg.require_exp {
        required.push("exp");
    }
    if let Some(iss) = &cfg.issuer {
        v.set_issuer(&[iss]);
        required.push("iss");
    }
    match &cfg.audience {
        Some(aud) => {
            v.set_audience(&[aud]);
            required.push("aud");
        }
        None => v.validate_aud = false,
    }
    v.set_required_spec_claims(&required);
    v
}

impl JwtAuth {
    /// 400 with RFC 6750's `invalid_request` (a request carrying more than one token).
    fn bad_request(&self, why: &str) -> Result<Flow, BoxError> {
        let challenge = format!(
            "{}, error=\"invalid_request\", error_description=\"{why}\"",
            self.challenge
        );
        Ok(Flow::Respond(
            Response::text(400, format!("400 {why}\n"))?
                .with_header("www-authenticate", &challenge)?,
        ))
    }

    fn unauthorized(&self, why: Option<Rejection>) -> Result<Flow, BoxError> {
        let challenge = match why {
            None => self.challenge.clone(),
            Some(r) => format!(
                "{}, error=\"invalid_token\", error_description=\"{}\"",
                self.challenge,
                r.description()
            ),
        };
        Ok(Flow::Respond(
            Response::text(401, "401 Unauthorized\n")?
                .with_header("www-authenticate", &challenge)?,
        ))
    }
}

#[async_trait]
impl Plugin for JwtAuth {
    async fn rewrite(
        &self,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<Flow, BoxError> {
        // `Connection: x-user-id` would have the hop-by-hop stripping remove the verified
        // header after it is set: refused, as the proxy does for its own headers.
        if credentials::connection_names(req, &self.header_names) {
            return self.bad_request("Connection names a header set from the token");
        }
        // Whatever the client sent under the claim headers' names — or names an upstream
        // reads as them (`X_User_Id`) — is never forwarded.
        for (_, name) in &self.headers {
            credentials::remove_folded(req, name);
        }
        let (source, token) = match token::find(req, &self.sources) {
            Found::One(found) => found,
            Found::None => return self.unauthorized(None),
            Found::Many => return self.bad_request("more than one token"),
        };
        let all = match self.verifier.verify(&token) {
            Ok(claims) => claims,
            Err(why) => {
                tracing::debug!(request_id = %ctx.request_id, client = ?ctx.client_ip(), reason = why.description(), "jwt-auth: token refused");
                return self.unauthorized(Some(why));
            }
        };
        if self.hide_credentials {
            token::hide(req, source)?;
        }
        for (claim, name) in &self.headers {
            if let Some(value) = all.get(claim).and_then(claims::header_value) {
                req.insert_header(name.clone(), value)?;
            }
        }
        let selected = JwtClaims::select(&all, &self.claim_names);
        if let Some(sub) = &selected.subject {
            ctx.vars.set("jwt_sub", sub.as_str());
            ctx.set_consumer(sub.as_str());
        }
        for (claim, var) in &self.claim_vars {
            if let Some(text) = selected.claims.get(claim).and_then(claims::text) {
                ctx.vars.set(var, text);
            }
        }
        ctx.extensions.insert(selected);
        Ok(Flow::Continue)
    }
}

#[cfg(test)]
mod tests;
