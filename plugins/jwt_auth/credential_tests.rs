//! One token per request (RFC 6750 §2), claim headers that cannot be forged through
//! underscore variants or stripped through `Connection`, `hide_credentials`.

use super::*;

fn plugin(var: &str, extra: Value) -> Arc<dyn Plugin> {
    let mut cfg = json!({"token_sources": ["cookie:jwt", "bearer", "query:access_token"]});
    merge(&mut cfg, extra);
    hs_plugin(var, SECRET.as_bytes(), cfg)
}

fn good() -> String {
    hs(Algorithm::HS256, &claims(json!({})), SECRET.as_bytes())
}

/// Runs the plugin on a request to `target` with `headers`: the request after it, or the
/// refusal's status and `WWW-Authenticate`.
async fn call(
    p: &Arc<dyn Plugin>,
    target: &str,
    headers: &[(&str, String)],
) -> Result<RequestHeader, (u16, String)> {
    let mut req = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
    for (n, v) in headers {
        req.append_header(n.to_string(), v.as_str()).unwrap();
    }
    let mut ctx = RequestCtx::for_test();
    match p.rewrite(&mut req, &mut ctx).await.unwrap() {
        Flow::Continue => Ok(req),
        Flow::Respond(r) => {
            let challenge = r.header.headers.get("www-authenticate");
            let challenge = challenge.map(|v| v.to_str().unwrap().to_string());
            let challenge = challenge.unwrap_or_default();
            Err((r.status(), challenge))
        }
    }
}

#[tokio::test]
async fn exactly_one_token_or_400() {
    let p = plugin("JWT_TEST_ONE_TOKEN", json!({}));
    let t = good();
    let bearer = format!("Bearer {t}");
    // One token, in any one source.
    for (target, headers) in [
        ("/", vec![("authorization", bearer.clone())]),
        ("/", vec![("cookie", format!("a=1; jwt={t}"))]),
        (&*format!("/?access_token={t}&x=1"), vec![]),
    ] {
        assert!(
            call(&p, target, &headers).await.is_ok(),
            "{target} {headers:?}"
        );
    }
    // Twice in one source, or in two sources: 400 invalid_request, whatever the other is.
    let query_twice = format!("/?access_token={t}&access_token=forged");
    let query = format!("/?access_token={t}");
    for (target, headers) in [
        (
            "/",
            vec![
                ("authorization", bearer.clone()),
                ("authorization", "Bearer forged".into()),
            ],
        ),
        (
            "/",
            vec![
                ("authorization", bearer.clone()),
                ("authorization", bearer.clone()),
            ],
        ),
        (
            "/",
            vec![
                ("authorization", bearer.clone()),
                ("authorization", "Basic eDp5".into()),
            ],
        ),
        ("/", vec![("cookie", format!("jwt={t}; jwt=forged"))]),
        (
            "/",
            vec![
                ("cookie", format!("jwt={t}")),
                ("cookie", "jwt=forged".into()),
            ],
        ),
        (&*query_twice, vec![]),
        (&*query, vec![("authorization", bearer.clone())]),
        (
            "/",
            vec![
                ("cookie", format!("jwt={t}")),
                ("authorization", bearer.clone()),
            ],
        ),
    ] {
        let (status, challenge) = call(&p, target, &headers).await.unwrap_err();
        assert_eq!(status, 400, "{target} {headers:?}");
        assert!(
            challenge.contains("error=\"invalid_request\""),
            "{challenge}"
        );
    }
}

#[tokio::test]
async fn claim_headers_cannot_be_forged_or_stripped() {
    let p = plugin("JWT_TEST_FORGE", json!({}));
    let bearer = format!("Bearer {}", good());
    let forged = [
        ("X_User_Id", "admin"),
        ("X-User_Id", "admin"),
        ("x-USER-id", "admin"),
        ("X_Role", "root"),
    ];
    let mut headers = vec![("authorization", bearer.clone())];
    headers.extend(forged.iter().map(|(n, v)| (*n, v.to_string())));
    let req = call(&p, "/", &headers).await.unwrap();
    let user: Vec<_> = req
        .headers
        .iter()
        .filter(|(n, _)| n.as_str().contains("user"))
        .collect();
    assert_eq!(user.len(), 1, "{user:?}");
    assert_eq!(req.headers["x-user-id"], "u-1");
    assert_eq!(req.headers["x-role"], "admin");
    assert!(!req.headers.contains_key("x_role"));
    // `Connection` naming a claim header (or a folded variant) would strip it after us.
    for option in ["x-user-id", "close, X-Role", "x_user_id"] {
        let headers = [
            ("authorization", bearer.clone()),
            ("connection", option.to_string()),
        ];
        let (status, _) = call(&p, "/", &headers).await.unwrap_err();
        assert_eq!(status, 400, "{option}");
    }
    let headers = [
        ("authorization", bearer.clone()),
        ("connection", "keep-alive".into()),
    ];
    assert!(call(&p, "/", &headers).await.is_ok());
}

#[tokio::test]
async fn non_ascii_claims_are_left_out() {
    let p = plugin("JWT_TEST_ASCII", json!({}));
    let token = hs(
        Algorithm::HS256,
        &claims(json!({"sub": "Zoë", "role": "ädmin"})),
        SECRET.as_bytes(),
    );
    let req = call(&p, "/", &[("authorization", format!("Bearer {token}"))])
        .await
        .unwrap();
    assert!(!req.headers.contains_key("x-user-id"));
    assert!(!req.headers.contains_key("x-role"));
}

#[tokio::test]
async fn hide_credentials_takes_the_token_off() {
    let p = plugin("JWT_TEST_HIDE", json!({"hide_credentials": true}));
    let t = good();
    let req = call(&p, "/", &[("authorization", format!("Bearer {t}"))])
        .await
        .unwrap();
    assert!(!req.headers.contains_key("authorization"));
    let req = call(&p, "/", &[("cookie", format!("a=1; jwt={t}; b=2"))])
        .await
        .unwrap();
    assert_eq!(req.headers["cookie"], "a=1; b=2");
    let req = call(&p, &format!("/p?x=1&access_token={t}&y=2"), &[])
        .await
        .unwrap();
    assert_eq!(req.uri.to_string(), "/p?x=1&y=2");
    // Off (the default): the token goes on.
    let p = plugin("JWT_TEST_KEEP", json!({}));
    let req = call(&p, "/", &[("authorization", format!("Bearer {t}"))])
        .await
        .unwrap();
    assert!(req.headers.contains_key("authorization"));
}
