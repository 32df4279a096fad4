use super::*;
use base64::Engine;
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

const SECRET: &str = "0123456789abcdef0123456789abcdef-test";

fn testdata(name: &str) -> String {
    format!("{}/jwt_auth/testdata/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(testdata(name)).unwrap()
}

fn now() -> u64 {
    jsonwebtoken::get_current_timestamp()
}

fn build(cfg: Value) -> Result<Arc<dyn Plugin>, BoxError> {
    let cfg: JwtAuthConfig = serde_json::from_value(cfg)?;
    JwtAuth::build(cfg, &crate::test_shared())
}

/// An HS plugin whose secret is `secret`, read from a variable unique to `var`.
fn hs_plugin(var: &str, secret: &[u8], extra: Value) -> Arc<dyn Plugin> {
    std::env::set_var(
        var,
        std::ffi::OsStr::new(std::str::from_utf8(secret).unwrap()),
    );
    let mut cfg = json!({ "algorithms": ["HS256", "HS384", "HS512"], "secret_env": var,
        "claims_to_headers": { "sub": "x-user-id", "role": "x-role" }, "claims": ["tenant"] });
    merge(&mut cfg, extra);
    build(cfg).unwrap()
}

fn jwks_plugin(extra: Value) -> Arc<dyn Plugin> {
    let mut cfg = json!({ "algorithms": ["RS256", "ES256"], "jwks_file": testdata("jwks.json") });
    merge(&mut cfg, extra);
    build(cfg).unwrap()
}

fn merge(cfg: &mut Value, extra: Value) {
    if let (Some(c), Value::Object(e)) = (cfg.as_object_mut(), extra) {
        c.extend(e);
    }
}

fn claims(extra: Value) -> Value {
    let mut c = json!({ "sub": "u-1", "role": "admin", "tenant": 7, "exp": now() + 600 });
    merge(&mut c, extra);
    c
}

fn hs(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
    encode(
        &Header::new(alg),
        claims,
        &EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

fn rs(kid: Option<&str>, claims: &Value, pem: &str) -> String {
    let mut h = Header::new(Algorithm::RS256);
    h.kid = kid.map(String::from);
    encode(&h, claims, &EncodingKey::from_rsa_pem(&read(pem)).unwrap()).unwrap()
}

fn es(kid: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(Algorithm::ES256);
    h.kid = kid.map(String::from);
    let key = EncodingKey::from_ec_pem(&read("ec-private.pem")).unwrap();
    encode(&h, claims, &key).unwrap()
}

fn b64(v: &Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

/// Runs the plugin with `Authorization: Bearer token` (and `extra` headers): the request
/// as forwarded and the context on success, or the 401's `WWW-Authenticate`.
async fn run(
    p: &Arc<dyn Plugin>,
    token: Option<&str>,
) -> Result<(RequestHeader, RequestCtx), String> {
    let mut req = RequestHeader::build("GET", b"/api", None).unwrap();
    req.insert_header("x-user-id", "spoofed").unwrap();
    if let Some(t) = token {
        req.insert_header("authorization", format!("Bearer {t}"))
            .unwrap();
    }
    let mut ctx = RequestCtx::for_test();
    match p.rewrite(&mut req, &mut ctx).await.unwrap() {
        Flow::Continue => Ok((req, ctx)),
        Flow::Respond(r) => {
            assert_eq!(r.status(), 401);
            let body = String::from_utf8_lossy(&r.body).to_string();
            let challenge = r.header.headers["www-authenticate"]
                .to_str()
                .unwrap()
                .to_string();
            if let Some(t) = token.filter(|t| t.len() > 8) {
                assert!(!challenge.contains(t) && !body.contains(t), "token echoed");
            }
            Err(challenge)
        }
    }
}

async fn refused(p: &Arc<dyn Plugin>, token: &str, description: &str) {
    let challenge = run(p, Some(token)).await.unwrap_err();
    assert_eq!(
        challenge,
        format!(
            "Bearer realm=\"edgeproxy\", error=\"invalid_token\", error_description=\"{description}\""
        )
    );
}

async fn accepted(p: &Arc<dyn Plugin>, token: &str) -> (RequestHeader, RequestCtx) {
    run(p, Some(token)).await.unwrap()
}

#[tokio::test]
async fn valid_hs_tokens_pass_and_expose_claims() {
    let p = hs_plugin("JWT_TEST_HS_VALID", SECRET.as_bytes(), json!({}));
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        let (req, ctx) = accepted(&p, &hs(alg, &claims(json!({})), SECRET.as_bytes())).await;
        assert_eq!(req.headers["x-user-id"], "u-1", "{alg:?}");
        assert_eq!(req.headers.get_all("x-user-id").iter().count(), 1);
        assert_eq!(req.headers["x-role"], "admin");
        let c = ctx.extensions.get::<JwtClaims>().unwrap();
        assert_eq!(c.subject.as_deref(), Some("u-1"));
        assert_eq!(c.claims["tenant"], json!(7));
        assert_eq!(c.claims["role"], json!("admin"));
        assert!(!c.claims.contains_key("exp"));
        let vars = [("jwt_sub", "u-1"), ("consumer", "u-1"), ("jwt_tenant", "7")];
        for (name, value) in vars {
            assert_eq!(ctx.vars.get(name), Some(value), "${name}");
        }
        assert_eq!(ctx.vars.get("jwt_exp"), None, "only the claims asked for");
    }
    // A claim the token lacks: the client's header is still removed, none is added.
    let (req, _) = accepted(
        &p,
        &hs(
            Algorithm::HS256,
            &json!({"exp": now() + 60}),
            SECRET.as_bytes(),
        ),
    )
    .await;
    assert!(req.headers.get("x-user-id").is_none());
}

#[tokio::test]
async fn valid_rs256_and_es256_tokens_pass() {
    let p = jwks_plugin(json!({ "claims": ["role"] }));
    let (_, ctx) = accepted(
        &p,
        &rs(Some("rsa-1"), &claims(json!({})), "rsa-private.pem"),
    )
    .await;
    assert_eq!(
        ctx.extensions.get::<JwtClaims>().unwrap().claims["role"],
        json!("admin")
    );
    accepted(&p, &es(Some("ec-1"), &claims(json!({})))).await;
    // No kid: the only key of the algorithm's family is used.
    accepted(&p, &es(None, &claims(json!({})))).await;
    accepted(&p, &rs(None, &claims(json!({})), "rsa-private.pem")).await;
}

#[tokio::test]
async fn time_claims_with_leeway() {
    let p = hs_plugin("JWT_TEST_HS_TIME", SECRET.as_bytes(), json!({}));
    let t = |c| hs(Algorithm::HS256, &claims(c), SECRET.as_bytes());
    refused(&p, &t(json!({"exp": now() - 3600})), "token expired").await;
    refused(&p, &t(json!({"nbf": now() + 3600})), "token not yet valid").await;
    accepted(&p, &t(json!({"exp": now() - 10, "nbf": now() + 10}))).await;
    // A string `exp` is not an `exp`: missing when required, a bad claim otherwise.
    refused(&p, &t(json!({"exp": "tomorrow"})), "required claim missing").await;
    let no_exp = hs(Algorithm::HS256, &json!({"sub": "u"}), SECRET.as_bytes());
    refused(&p, &no_exp, "required claim missing").await;
    let lax = hs_plugin(
        "JWT_TEST_HS_LAX",
        SECRET.as_bytes(),
        json!({"require_exp": false, "leeway": "0s"}),
    );
    accepted(&lax, &no_exp).await;
    refused(&lax, &t(json!({"exp": now() - 10})), "token expired").await;
    refused(&lax, &t(json!({"exp": "tomorrow"})), "invalid claim").await;
}

#[tokio::test]
async fn wrong_keys_are_refused() {
    let p = hs_plugin("JWT_TEST_HS_WRONG", SECRET.as_bytes(), json!({}));
    let other = b"another-secret-another-secret-another";
    refused(
        &p,
        &hs(Algorithm::HS256, &claims(json!({})), other),
        "invalid signature",
    )
    .await;
    let j = jwks_plugin(json!({}));
    let forged = rs(Some("rsa-1"), &claims(json!({})), "rsa-other-private.pem");
    refused(&j, &forged, "invalid signature").await;
    let unknown = rs(Some("rsa-9"), &claims(json!({})), "rsa-private.pem");
    refused(&j, &unknown, "no key for this token").await;
    // The EC key's kid with an RS256 token: wrong family, no key.
    let crossed = rs(Some("ec-1"), &claims(json!({})), "rsa-private.pem");
    refused(&j, &crossed, "no key for this token").await;
}

#[tokio::test]
async fn issuer_and_audience() {
    let p = jwks_plugin(json!({ "issuer": "https://id.example", "audience": "shop" }));
    let t = |c| es(Some("ec-1"), &claims(c));
    accepted(&p, &t(json!({"iss": "https://id.example", "aud": "shop"}))).await;
    accepted(
        &p,
        &t(json!({"iss": "https://id.example", "aud": ["x", "shop"]})),
    )
    .await;
    refused(
        &p,
        &t(json!({"iss": "https://evil", "aud": "shop"})),
        "invalid issuer",
    )
    .await;
    refused(
        &p,
        &t(json!({"iss": "https://id.example", "aud": "admin"})),
        "invalid audience",
    )
    .await;
    refused(
        &p,
        &t(json!({"iss": "https://id.example"})),
        "required claim missing",
    )
    .await;
    refused(&p, &t(json!({"aud": "shop"})), "required claim missing").await;
}

#[tokio::test]
async fn alg_none_and_alg_confusion_are_refused() {
    let p = hs_plugin("JWT_TEST_HS_NONE", SECRET.as_bytes(), json!({}));
    let payload = b64(&claims(json!({})));
    for header in [
        json!({"alg": "none", "typ": "JWT"}),
        json!({"alg": "None"}),
        json!({"alg": "NONE"}),
    ] {
        refused(
            &p,
            &format!("{}.{payload}.", b64(&header)),
            "algorithm not allowed",
        )
        .await;
    }
    // RS256 token against an HMAC secret made of the public key: RS256 is not allowed there.
    let public = read("rsa-public.pem");
    let hs_pub = hs_plugin("JWT_TEST_HS_PUBKEY", &public, json!({}));
    let rs_token = rs(Some("rsa-1"), &claims(json!({})), "rsa-private.pem");
    refused(&hs_pub, &rs_token, "algorithm not allowed").await;
    // HS256 token whose secret is the public key, against the JWKS: HS* is not allowed there.
    let j = jwks_plugin(json!({}));
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some("rsa-1".into());
    let confused = encode(
        &h,
        &claims(json!({})),
        &EncodingKey::from_secret(&public).unwrap(),
    )
    .unwrap();
    refused(&j, &confused, "algorithm not allowed").await;
    // An HS256-only instance refuses HS512 tokens.
    let hs256 = hs_plugin(
        "JWT_TEST_HS_ONLY",
        SECRET.as_bytes(),
        json!({"algorithms": ["HS256"]}),
    );
    refused(
        &hs256,
        &hs(Algorithm::HS512, &claims(json!({})), SECRET.as_bytes()),
        "algorithm not allowed",
    )
    .await;
}

#[tokio::test]
async fn malformed_tokens_are_refused() {
    let p = hs_plugin("JWT_TEST_HS_BAD", SECRET.as_bytes(), json!({}));
    let good = hs(Algorithm::HS256, &claims(json!({})), SECRET.as_bytes());
    let (head, rest) = good.split_once('.').unwrap();
    let (body, sig) = rest.split_once('.').unwrap();
    for bad in [
        "garbage".to_string(),
        format!("{head}.{body}"),
        format!("{good}.x"),
        format!("!!.{body}.{sig}"),
        format!("{head}.!!.{sig}"),
        format!("{head}.{}.{sig}", b64(&json!("not an object"))),
        format!("{}.{body}.{sig}", b64(&json!({"typ": "JWT"}))),
        "...".to_string(),
    ] {
        let challenge = run(&p, Some(&bad)).await.unwrap_err();
        assert!(
            challenge.contains("error=\"invalid_token\""),
            "{bad}: {challenge}"
        );
    }
    refused(&p, &format!("{head}.{body}"), "malformed token").await;
    let huge = format!("{head}.{}.{sig}", "A".repeat(10_000));
    refused(&p, &huge, "token too large").await;
}

#[tokio::test]
async fn no_token_is_a_plain_challenge() {
    let p = hs_plugin(
        "JWT_TEST_HS_SOURCES",
        SECRET.as_bytes(),
        json!({"token_sources": ["cookie:jwt", "bearer"], "realm": "shop"}),
    );
    assert_eq!(run(&p, None).await.unwrap_err(), "Bearer realm=\"shop\"");
}

// One credential per request, claim-header variants, `Connection`, `hide_credentials`.
#[path = "credential_tests.rs"]
mod credential_tests;

#[test]
fn bad_configs_are_refused() {
    std::env::set_var("JWT_TEST_SHORT", "short");
    std::env::set_var("JWT_TEST_OK", SECRET);
    let jwks = testdata("jwks.json");
    for cfg in [
        json!({"algorithms": [], "secret_env": "JWT_TEST_OK"}),
        json!({"algorithms": ["none"], "secret_env": "JWT_TEST_OK"}),
        json!({"algorithms": ["PS256"], "jwks_file": jwks}),
        json!({"algorithms": ["HS256"]}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "jwks_file": jwks}),
        json!({"algorithms": ["HS256", "RS256"], "secret_env": "JWT_TEST_OK"}),
        json!({"algorithms": ["RS256", "HS256"], "jwks_file": jwks}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_SHORT"}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_UNSET_VARIABLE"}),
        json!({"algorithms": ["RS256"], "jwks_file": testdata("missing.json")}),
        json!({"algorithms": ["RS256"], "jwks_file": testdata("README")}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "realm": "a\"b"}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "realm": "café"}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "realm": "a\nb"}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "token_sources": []}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "token_sources": ["header:x"]}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "claims_to_headers": {"sub": "bad header"}}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "unknown": 1}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "claims_to_headers": {"sub": "Content-Length"}}),
        json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK", "claims_to_headers": {"sub": "host"}}),
    ] {
        assert!(build(cfg.clone()).is_err(), "{cfg}");
    }
    assert!(build(json!({"algorithms": ["HS256"], "secret_env": "JWT_TEST_OK"})).is_ok());
}

#[test]
fn jwks_reload_keeps_the_last_good_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwks.json");
    let full: Value = serde_json::from_slice(&read("jwks.json")).unwrap();
    std::fs::write(&path, full.to_string()).unwrap();
    let file = Arc::new(JwksFile::open(path.clone(), Duration::ZERO).unwrap());
    assert_eq!(file.keys().len(), 2);
    let ec_only = json!({"keys": [full["keys"][1].clone()]});
    std::fs::write(&path, ec_only.to_string()).unwrap();
    assert!(file.reload_if_changed());
    assert_eq!(file.keys().len(), 1);
    assert!(file
        .keys()
        .select(Some("rsa-1"), Algorithm::RS256)
        .is_none());
    std::fs::write(&path, "{ broken").unwrap();
    assert!(!file.reload_if_changed());
    assert!(
        !file.reload_if_changed(),
        "an unchanged broken file is not read again"
    );
    assert!(file.keys().select(Some("ec-1"), Algorithm::ES256).is_some());
    std::fs::write(&path, r#"{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}"#).unwrap();
    assert!(!file.reload_if_changed(), "oct keys are never taken");
    assert_eq!(file.keys().len(), 1);
}
