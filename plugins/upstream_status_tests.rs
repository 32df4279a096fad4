use std::net::SocketAddr;
use std::time::Duration;

use edgeproxy::kit::{ConsulSpec, GroupSpec, HashSpec, ServerSpec, WatchStatus};

use super::*;

fn server(port: u16, weight: u32, backup: bool) -> ServerSpec {
    ServerSpec {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        weight,
        max_fails: 1,
        fail_timeout: Duration::from_secs(10),
        down: false,
        backup,
    }
}

fn group(name: &str, balance: BalanceSpec, consul: Option<ConsulSpec>) -> Arc<UpstreamGroup> {
    let servers = vec![server(9001, 3, false), server(9002, 1, true)];
    Arc::new(UpstreamGroup::new(GroupSpec {
        balance,
        consul,
        ..GroupSpec::new(name, servers)
    }))
}

fn consul() -> ConsulSpec {
    ConsulSpec {
        address: "http://127.0.0.1:8500".into(),
        prefix: "upstreams/app/".into(),
        token: Some("do-not-show".into()),
        wait: Duration::from_secs(5),
        max_backoff: Duration::from_secs(5),
        dump_file: None,
        strong_dependency: false,
    }
}

#[tokio::test]
async fn static_and_consul_groups_as_json() {
    let web = group("web", BalanceSpec::RoundRobin, None);
    let hash =
        BalanceSpec::Hash(HashSpec::parse("$arg_productId", Some("$remote_addr"), None).unwrap());
    let app = group("app", hash, Some(consul()));
    let refused = "connect to 127.0.0.1:9001 failed: refused";
    web.report_failure(server(9001, 3, false).addr, refused); // max_fails = 1: out now
    let upstreams: Upstreams = Arc::new(
        [("web".to_string(), web), ("app".to_string(), app.clone())]
            .into_iter()
            .collect(),
    );
    let p = UpstreamStatus::new(upstreams);

    let req = RequestHeader::build("GET", b"/status/upstreams", None).unwrap();
    let resp = p
        .content(&req, &mut RequestCtx::for_test())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 200);
    let text = String::from_utf8(resp.body.to_vec()).unwrap();
    assert!(!text.contains("do-not-show"), "token leaked: {text}");
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let web = &v["upstreams"]["web"];
    assert_eq!(web["balance"], "round_robin");
    assert!(web.get("consul").is_none());
    let mut first = web["members"][0].clone();
    let ago = first["last_error"]["ago_ms"].take();
    assert!(ago.as_u64().is_some_and(|ms| ms < 60_000), "{ago}");
    assert_eq!(
        first,
        serde_json::json!({"addr": "127.0.0.1:9001", "weight": 3, "max_fails": 1,
            "fail_timeout_ms": 10000, "down": false, "backup": false,
            "health": "passively_down",
            "failures": {"passive": 1, "connect": 1, "check": 0},
            "last_error": {"message": refused, "ago_ms": null}})
    );
    assert_eq!(web["members"][1]["backup"], true);
    assert_eq!(web["members"][1]["health"], "up");
    assert_eq!(
        web["members"][1]["failures"],
        serde_json::json!({"passive": 0, "connect": 0, "check": 0})
    );
    assert!(web["members"][1]["last_error"].is_null());

    let a = &v["upstreams"]["app"];
    assert_eq!(a["balance"], "hash");
    assert_eq!(a["hash_key"], "$arg_productId");
    assert_eq!(a["hash_fallback"], "$remote_addr");
    assert_eq!(a["consul"]["prefix"], "upstreams/app/");
    assert!(a["consul"]["watch"].is_null(), "no watcher yet");

    app.set_watch_status(Arc::new(WatchStatus::default()));
    let doc = serde_json::to_value(p.document()).unwrap();
    let w = &doc["upstreams"]["app"]["consul"]["watch"];
    assert_eq!(w["last_index"], 0);
    assert!(w["last_success_age_ms"].is_null(), "never read: {w}");
    assert_eq!(w["consecutive_errors"], 0);
}

#[test]
fn watch_ages_are_relative_to_now() {
    let snap = WatchSnapshot {
        last_index: 7,
        requests: 3,
        last_success_unix_ms: 10_000,
        last_change_unix_ms: 0,
        changes: 1,
        consecutive_errors: 2,
        total_errors: 5,
        members: 2,
        last_error: Some("connection refused".into()),
    };
    let v = serde_json::to_value(WatchDoc::new(snap, 12_500)).unwrap();
    assert_eq!(v["last_index"], 7);
    assert_eq!(v["last_success_age_ms"], 2_500);
    assert!(v["last_change_age_ms"].is_null());
    assert_eq!(v["consecutive_errors"], 2);
    assert_eq!(v["last_error"], "connection refused");
}

#[tokio::test]
async fn post_is_405() {
    let p = UpstreamStatus::new(Default::default());
    let req = RequestHeader::build("POST", b"/status/upstreams", None).unwrap();
    let resp = p
        .content(&req, &mut RequestCtx::for_test())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 405);
}
