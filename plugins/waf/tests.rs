use super::*;
use crate::test_shared;
use edgeproxy::kit::Registry;

fn build(config: &str) -> Result<Arc<dyn Plugin>, String> {
    let mut r = Registry::new();
    r.register::<Waf>();
    r.build_str("waf", config, &test_shared())
        .map_err(|e| e.to_string())
}

async fn run(plugin: &Arc<dyn Plugin>, target: &str) -> (u16, String) {
    let req = RequestHeader::build("GET", target.as_bytes(), None).unwrap();
    let mut ctx = RequestCtx::for_test();
    match plugin.access(&req, &mut ctx).await.unwrap() {
        Flow::Continue => (200, String::new()),
        Flow::Respond(r) => (r.status(), String::from_utf8_lossy(&r.body).into_owned()),
    }
}

fn count(rule: &str, action: &str) -> u64 {
    rules::MATCHES.with_label_values(&[rule, action]).get()
}

#[tokio::test]
async fn blocks_with_status_and_message_and_counts_per_rule() {
    let p = build(r#"{ rules = [{ id = "t-passwd", pattern = "(?i)/secret/keys", targets = ["args"] }], status = 406, message = "no\n" }"#).unwrap();
    assert_eq!(run(&p, "/s?f=%2Fsecret%2Fkeys").await, (406, "no\n".into()));
    assert_eq!(
        run(&p, "/secret/keys").await.0,
        200,
        "custom rule targets args only"
    );
    assert_eq!(run(&p, "/s?q=1+or+1=1").await.0, 406, "defaults still on");
    assert_eq!(count("t-passwd", "block"), 1);
}

#[tokio::test]
async fn default_message_names_the_request_id() {
    let p = build("{}").unwrap();
    let (status, body) = run(&p, "/s?q=%3Cscript%3E").await;
    assert_eq!(status, 403);
    assert!(
        body.starts_with("403 Forbidden") && body.contains("test-request"),
        "{body}"
    );
}

#[tokio::test]
async fn detect_only_and_log_rules_count_but_never_block() {
    let p = build(r#"{ detect_only = true, default_rules = false, rules = [{ id = "t-detect", pattern = "evil" }] }"#).unwrap();
    assert_eq!(run(&p, "/s?q=evil").await.0, 200);
    assert_eq!(run(&p, "/evil").await.0, 200);
    assert_eq!(count("t-detect", "log"), 2);
    assert_eq!(count("t-detect", "block"), 0);

    let p = build(r#"{ default_rules = false, rules = [{ id = "t-log", pattern = "meh", action = "log" }, { id = "t-block", pattern = "bad" }] }"#).unwrap();
    assert_eq!(run(&p, "/s?q=meh").await.0, 200);
    assert_eq!(run(&p, "/s?q=meh&r=bad").await.0, 403);
    assert_eq!((count("t-log", "log"), count("t-block", "block")), (2, 1));
}

#[tokio::test]
async fn disabled_default_rules_and_decode_rounds() {
    let p = build(r#"{ disable_rules = ["xss-script-tag", "xss-libinjection"] }"#).unwrap();
    assert_eq!(run(&p, "/s?q=%3Cscript%3E").await.0, 200);
    assert_eq!(run(&p, "/s?q=javascript:alert(1)").await.0, 403);
    let p = build(r#"{ decode_rounds = 1 }"#).unwrap();
    assert_eq!(
        run(&p, "/s?q=%253Cscript%253E").await.0,
        200,
        "one pass leaves %3C"
    );
    assert_eq!(run(&p, "/s?q=%3Cscript%3E").await.0, 403);
}

#[test]
fn config_mistakes_are_errors() {
    let err = |c: &str| build(c).err().unwrap_or_else(|| panic!("accepted: {c}"));
    assert!(err(r#"{ rules = [{ id = "x", pattern = "(" }] }"#).contains("invalid pattern"));
    assert!(
        err(r#"{ rules = [{ id = "x", pattern = "a", targets = ["bodies"] }] }"#)
            .contains("unknown variant `bodies`")
    );
    assert!(
        err(r#"{ rules = [{ id = "x", pattern = "a", action = "drop" }] }"#)
            .contains("unknown variant `drop`")
    );
    assert!(
        err(r#"{ rules = [{ id = "x", pattern = "a" }, { id = "x", pattern = "b" }] }"#)
            .contains("used twice")
    );
    assert!(err(r#"{ rules = [{ id = "sqli-or-true", pattern = "b" }] }"#).contains("used twice"));
    assert!(
        err(r#"{ rules = [{ id = "x", pattern = "a", targets = [] }] }"#).contains("no targets")
    );
    assert!(err(r#"{ default_rules = false }"#).contains("no rules"));
    assert!(err(r#"{ disable_rules = ["nope"] }"#).contains("no default rule `nope`"));
    assert!(err(r#"{ decode_rounds = 0 }"#).contains("decode_rounds"));
    assert!(err(r#"{ decode_rounds = 9 }"#).contains("decode_rounds"));
    assert!(err(r#"{ status = 302 }"#).contains("not an error status"));
    assert!(err(r#"{ headers = ["bad header"] }"#).contains("header `bad header`"));
    assert!(err(r#"{ mode = "block" }"#).contains("unknown field"));
}

async fn post(plugin: &Arc<dyn Plugin>, ct: &str, body: &str, complete: bool) -> u16 {
    let mut req = RequestHeader::build("POST", b"/form", None).unwrap();
    req.insert_header("content-type", ct).unwrap();
    let body = RequestBody {
        bytes: edgeproxy::kit::Bytes::copy_from_slice(body.as_bytes()),
        complete,
    };
    let mut ctx = RequestCtx::for_test();
    match plugin.request_body(&req, &body, &mut ctx).await.unwrap() {
        Flow::Continue => 200,
        Flow::Respond(r) => r.status(),
    }
}

#[tokio::test]
async fn bodies_are_checked_up_to_body_bytes() {
    let form = "application/x-www-form-urlencoded";
    let p = build("{}").unwrap();
    assert_eq!(p.request_body_bytes(), 65536);
    assert_eq!(post(&p, form, "q=1%27+or+%271%27%3D%271", true).await, 403);
    assert_eq!(
        post(&p, "application/json", r#"{"q":"<script>x"}"#, true).await,
        403
    );
    assert_eq!(post(&p, form, "q=select+your+size", true).await, 200);
    assert_eq!(
        post(&p, form, "q=ok", false).await,
        413,
        "a body not seen whole is refused by default"
    );
    let p = build(r#"{ body_limit_action = "partial" }"#).unwrap();
    assert_eq!(
        post(&p, form, "q=ok", false).await,
        200,
        "partial: start checked"
    );
    assert_eq!(post(&p, form, "q=1+union+select+1&pad=", false).await, 403);

    let p = build(r#"{ detect_only = true }"#).unwrap();
    assert_eq!(
        post(&p, form, "q=ok", false).await,
        200,
        "detect_only never refuses"
    );

    let p = build(r#"{ body_bytes = 8 }"#).unwrap();
    assert_eq!(post(&p, form, "q=ok", false).await, 413);
    assert_eq!(
        post(&p, form, "q=123456789", true).await,
        413,
        "longer than body_bytes"
    );
    assert_eq!(post(&p, form, "q=1234", true).await, 200);

    let p = build(r#"{ body_bytes = 0 }"#).unwrap();
    assert_eq!(p.request_body_bytes(), 0);
    let p = build(
        r#"{ default_rules = false, rules = [{ id = "t-b", pattern = "x", targets = ["args"] }] }"#,
    )
    .unwrap();
    assert_eq!(p.request_body_bytes(), 0, "no rule looks at bodies");
    let e = build("{ body_bytes = 65537 }").err().unwrap();
    assert!(e.contains("body_bytes is at most 65536"), "{e}");
}

#[tokio::test]
async fn a_declared_body_too_long_is_refused_before_any_upstream() {
    let access = |p: Arc<dyn Plugin>, len: &'static str| async move {
        let mut req = RequestHeader::build("POST", b"/upload", None).unwrap();
        req.insert_header("content-length", len).unwrap();
        let mut ctx = RequestCtx::for_test();
        match p.access(&req, &mut ctx).await.unwrap() {
            Flow::Continue => 200,
            Flow::Respond(r) => r.status(),
        }
    };
    assert_eq!(access(build("{}").unwrap(), "65537").await, 413);
    assert_eq!(access(build("{}").unwrap(), "65536").await, 200);
    let partial = build(r#"{ body_limit_action = "partial" }"#).unwrap();
    assert_eq!(access(partial, "10000000").await, 200);
    let watch = build(r#"{ detect_only = true }"#).unwrap();
    assert_eq!(access(watch, "10000000").await, 200);
}
