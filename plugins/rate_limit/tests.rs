use super::*;
use crate::test_shared;
use edgeproxy::kit::Registry;

fn build(config: &str) -> Result<Arc<dyn Plugin>, String> {
    let mut r = Registry::new();
    r.register::<RateLimit>();
    r.build_str("rate-limit", config, &test_shared())
        .map_err(|e| e.to_string())
}

/// Runs the access phase (and the header filter of what it answers or lets through).
async fn run(p: &Arc<dyn Plugin>, ip: [u8; 4], headers: &[(&str, &str)]) -> (u16, ResponseHeader) {
    let mut req = RequestHeader::build("GET", b"/x?user=u1", None).unwrap();
    for (k, v) in headers {
        req.insert_header(k.to_string(), v.to_string()).unwrap();
    }
    let mut ctx = RequestCtx::for_test();
    ctx.client_addr = Some((ip, 4000).into());
    if let Some(c) = headers.iter().find(|(k, _)| *k == "x-consumer") {
        ctx.set_consumer(c.1);
    }
    let (status, mut header) = match p.access(&req, &mut ctx).await.unwrap() {
        Flow::Continue => (200, ResponseHeader::build(200, None).unwrap()),
        Flow::Respond(r) => (r.status(), r.header),
    };
    p.header_filter(&mut header, &mut ctx).unwrap();
    (status, header)
}

fn h<'a>(resp: &'a ResponseHeader, name: &str) -> &'a str {
    resp.headers.get(name).map_or("-", |v| v.to_str().unwrap())
}

#[tokio::test]
async fn per_key_window_with_headers_and_retry_after() {
    let p = build(r#"{ rule = "t-window", limit = 2, window = "1m" }"#).unwrap();
    let (s, r) = run(&p, [10, 0, 0, 1], &[]).await;
    assert_eq!(s, 200);
    assert_eq!(
        (h(&r, "ratelimit-limit"), h(&r, "ratelimit-remaining")),
        ("2", "1")
    );
    assert_eq!(run(&p, [10, 0, 0, 1], &[]).await.0, 200);
    let (s, r) = run(&p, [10, 0, 0, 1], &[]).await;
    assert_eq!(s, 429);
    assert_eq!(h(&r, "ratelimit-remaining"), "0");
    let retry: u64 = h(&r, "retry-after").parse().unwrap();
    assert!((1..=120).contains(&retry), "{retry}");
    assert_eq!(run(&p, [10, 0, 0, 2], &[]).await.0, 200, "another key");
    let m = RuleMetrics::new("t-window");
    assert_eq!((m.allowed.get(), m.limited.get()), (3, 1));
}

#[tokio::test]
async fn missing_keys_share_a_bucket_or_skip() {
    let shared =
        build(r#"{ rule = "t-shared", key = "$http_x_user", limit = 1, window = "1m" }"#).unwrap();
    assert_eq!(run(&shared, [1, 1, 1, 1], &[]).await.0, 200);
    assert_eq!(
        run(&shared, [2, 2, 2, 2], &[]).await.0,
        429,
        "one bucket for all without a key"
    );
    assert_eq!(run(&shared, [2, 2, 2, 2], &[("x-user", "a")]).await.0, 200);
    let skip = build(r#"{ rule = "t-skip", key = "$http_x_user", limit = 1, window = "1m", missing_key = "skip" }"#).unwrap();
    for _ in 0..3 {
        assert_eq!(run(&skip, [1, 1, 1, 1], &[]).await.0, 200);
    }
    assert_eq!(RuleMetrics::new("t-skip").skipped.get(), 3);
}

#[tokio::test]
async fn consumer_keys_dry_run_and_leaky_bucket() {
    let p = build(r#"{ rule = "t-consumer", key = "$consumer", limit = 1, window = "1h", missing_key = "skip" }"#).unwrap();
    assert_eq!(
        run(&p, [1, 1, 1, 1], &[("x-consumer", "alice")]).await.0,
        200
    );
    assert_eq!(
        run(&p, [2, 2, 2, 2], &[("x-consumer", "alice")]).await.0,
        429
    );
    assert_eq!(run(&p, [1, 1, 1, 1], &[("x-consumer", "bob")]).await.0, 200);

    let dry = build(r#"{ rule = "t-dry", limit = 1, window = "1h", dry_run = true }"#).unwrap();
    for _ in 0..3 {
        assert_eq!(run(&dry, [1, 1, 1, 1], &[]).await.0, 200);
    }
    assert_eq!(RuleMetrics::new("t-dry").dry_run_limited.get(), 2);

    let bucket = build(r#"{ rule = "t-bucket", algorithm = "leaky_bucket", rate = "1r/m", burst = 2, nodelay = true, status = 503, headers = "none" }"#).unwrap();
    let got: Vec<u16> = futures::future::join_all((0..4).map(|_| run(&bucket, [1, 1, 1, 1], &[])))
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert_eq!(got, [200, 200, 200, 503], "1 + burst, then refused");
    let (_, r) = run(&bucket, [1, 1, 1, 1], &[]).await;
    assert_eq!(h(&r, "ratelimit-limit"), "-", "headers = none");
    // 1r/m is 16 thousandths a second in nginx's integer unit: one request drains in 62.5 s.
    assert_eq!(h(&r, "retry-after"), "63");
}

#[test]
fn config_mistakes_are_errors() {
    let err = |c: &str| build(c).err().unwrap_or_else(|| panic!("accepted: {c}"));
    for (config, why) in [
        (
            r#"{ rule = "a b", limit = 1, window = "1s" }"#,
            "rule \"a b\"",
        ),
        (r#"{ rule = "r", limit = 1 }"#, "needs `limit` and `window`"),
        (
            r#"{ rule = "r", limit = 0, window = "1s" }"#,
            "`limit` must be 1",
        ),
        (
            r#"{ rule = "r", limit = 1, window = "1s", rate = "1r/s" }"#,
            "are for algorithm",
        ),
        (
            r#"{ rule = "r", algorithm = "leaky_bucket" }"#,
            "needs `rate`",
        ),
        (
            r#"{ rule = "r", algorithm = "leaky_bucket", rate = "10 per s" }"#,
            "invalid rate",
        ),
        (
            r#"{ rule = "r", algorithm = "leaky_bucket", rate = "1r/s", nodelay = true, delay = 1 }"#,
            "not both",
        ),
        (
            r#"{ rule = "r", limit = 1, window = "1s", key = "$nope" }"#,
            "unknown variable `$nope`",
        ),
        (
            r#"{ rule = "r", limit = 1, window = "1s", scope = "redis" }"#,
            "needs a `redis` table",
        ),
        (
            r#"{ rule = "r", limit = 1, window = "1s", redis = { addresses = ["a:1"] } }"#,
            "scope is \"local\"",
        ),
        (
            r#"{ rule = "r", limit = 1, window = "1s", scope = "redis", redis = { addresses = ["a:1"] } }"#,
            "needs `nodes`",
        ),
        (
            r#"{ rule = "r", limit = 1, window = "1s", scope = "redis", on_redis_error = "fail_open", nodes = 2, redis = { addresses = ["a:1"] } }"#,
            "`nodes` is for",
        ),
        (
            r#"{ rule = "r", limit = 1, window = "1s", status = 200 }"#,
            "not an error status",
        ),
        (
            r#"{ rule = "r", limit = 1, window = "1s", windw = "1s" }"#,
            "unknown field `windw`",
        ),
        (
            r#"{ rule = "r", limit = 1, window = "1s", algorithm = "token" }"#,
            "unknown variant `token`",
        ),
    ] {
        let e = err(config);
        assert!(e.contains(why), "{config}: {e}");
    }
    assert!(build(r#"{ rule = "r", limit = 1, window = "1s", scope = "redis", nodes = 3, redis = { addresses = ["127.0.0.1:1"] } }"#).is_ok());
}

#[test]
fn rates_and_shares() {
    assert_eq!(config::parse_rate("10r/s"), Ok(10_000));
    assert_eq!(config::parse_rate("30r/m"), Ok(500));
    assert!(config::parse_rate("0r/s").is_err());
    assert!(config::parse_rate("5r/h").is_err());
    let w = Algorithm::Window {
        limit: 100,
        window_ms: 1000,
        sliding: true,
    };
    assert_eq!(
        config::share(w, 3),
        Algorithm::Window {
            limit: 33,
            window_ms: 1000,
            sliding: true
        }
    );
    let b = Algorithm::Bucket {
        rate_milli: 10_000,
        burst: 20,
        delay: 20,
    };
    assert_eq!(
        config::share(b, 4),
        Algorithm::Bucket {
            rate_milli: 2500,
            burst: 5,
            delay: 5
        }
    );
}
