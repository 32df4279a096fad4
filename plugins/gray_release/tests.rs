use super::*;
use edgeproxy::kit::Registry;
use edgeproxy::kit::{GroupSpec, ServerSpec, UpstreamGroup};

fn shared() -> Shared {
    let mut s = crate::test_shared();
    let group = |name: &str| {
        let server = ServerSpec::new(([127, 0, 0, 1], 1).into());
        Arc::new(UpstreamGroup::new(GroupSpec::new(name, vec![server])))
    };
    s.upstreams = Arc::new(
        ["pre", "prod"]
            .into_iter()
            .map(|n| (n.to_string(), group(n)))
            .collect(),
    );
    s
}

fn build(config: &str) -> Result<Arc<dyn Plugin>, String> {
    let mut r = Registry::new();
    r.register::<GrayRelease>();
    r.build_str("gray-release", config, &shared())
        .map_err(|e| e.to_string())
}

/// The group chosen for a request from `ip` with `headers`, and the response header.
async fn route(p: &Arc<dyn Plugin>, ip: [u8; 4], headers: &[(&str, &str)]) -> (String, String) {
    let mut req = RequestHeader::build("GET", b"/", None).unwrap();
    for (k, v) in headers {
        req.append_header(k.to_string(), *v).unwrap();
    }
    let mut ctx = RequestCtx::for_test();
    ctx.client_addr = Some((ip, 5000).into());
    ctx.upstream = Some("route-default".into());
    assert!(matches!(
        p.access(&req, &mut ctx).await.unwrap(),
        Flow::Continue
    ));
    let mut resp = ResponseHeader::build(200, None).unwrap();
    p.header_filter(&mut resp, &mut ctx).unwrap();
    let side = resp
        .headers
        .get("x-gray")
        .map_or("-".to_string(), |v| v.to_str().unwrap().to_string());
    (ctx.upstream.unwrap().to_string(), side)
}

#[tokio::test]
async fn ips_headers_cookies_choose_the_canary() {
    let p = build(r#"{ canary = "pre", stable = "prod", ips = ["10.0.0.0/8", "192.0.2.7"], header = { name = "x-canary", values = ["1"] }, cookie = { name = "beta" }, response_header = "x-gray" }"#).unwrap();
    let canary = ("pre".to_string(), "canary".to_string());
    let stable = ("prod".to_string(), "stable".to_string());
    assert_eq!(route(&p, [10, 1, 2, 3], &[]).await, canary);
    assert_eq!(route(&p, [192, 0, 2, 7], &[]).await, canary);
    assert_eq!(route(&p, [192, 0, 2, 8], &[]).await, stable);
    assert_eq!(route(&p, [1, 1, 1, 1], &[("x-canary", "1")]).await, canary);
    assert_eq!(route(&p, [1, 1, 1, 1], &[("x-canary", "0")]).await, stable);
    assert_eq!(
        route(&p, [1, 1, 1, 1], &[("cookie", "beta=anything")]).await,
        canary
    );
    let canaries = REQUESTS.with_label_values(&["pre", "canary"]).get();
    assert!(canaries >= 4, "{canaries} canary requests counted");
}

#[tokio::test]
async fn stable_defaults_to_the_routes_upstream() {
    let p = build(r#"{ canary = "pre", percent = 100, percent_key = "$http_x_user" }"#).unwrap();
    assert_eq!(route(&p, [1, 1, 1, 1], &[("x-user", "u")]).await.0, "pre");
    let (group, side) = route(&p, [1, 1, 1, 1], &[]).await;
    assert_eq!((group.as_str(), side.as_str()), ("route-default", "-"));
}

#[test]
fn config_mistakes_are_errors() {
    for (config, why) in [
        (
            r#"{ canary = "nope", ips = ["1.1.1.1"] }"#,
            "undefined upstream `nope`",
        ),
        (
            r#"{ canary = "pre", stable = "prd", ips = ["1.1.1.1"] }"#,
            "undefined upstream `prd`",
        ),
        (r#"{ canary = "pre" }"#, "no rule"),
        (r#"{ canary = "pre", ips = ["10.0.0.1/8"] }"#, "host bits"),
        (
            r#"{ canary = "pre", percent = 150 }"#,
            "percent must be 0 to 100",
        ),
        (
            r#"{ canary = "pre", ips_from = { key = "gray" } }"#,
            "exactly one of `redis` and `consul`",
        ),
        (
            r#"{ canary = "pre", ips_from = { key = "g", consul = "http://x", redis = { addresses = ["a:1"] } } }"#,
            "exactly one",
        ),
        (
            r#"{ canary = "pre", ips_from = { key = "g", consul = "http://x", refresh = "1ms" } }"#,
            "at least 10ms",
        ),
        (
            r#"{ canary = "pre", header = { name = "x", vals = [] } }"#,
            "unknown field `vals`",
        ),
        (
            r#"{ canary = "pre", ips = ["1.1.1.1"], response_header = "bad header" }"#,
            "not a header name",
        ),
    ] {
        let e = build(config)
            .err()
            .unwrap_or_else(|| panic!("accepted: {config}"));
        assert!(e.contains(why), "{config}: {e}");
    }
    assert!(build(r#"{ canary = "pre", ips_from = { key = "gray", redis = { addresses = ["127.0.0.1:1"] } } }"#).is_ok());
}
