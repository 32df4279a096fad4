//! The admin API through the real binary: an ordinary loopback server block using the
//! `admin-token`, `cache-purge`, `metrics` and `upstream-status` plugins, with a real
//! `redis-server` behind `[caches.main]`.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::common::consul::ConsulDouble;
use crate::common::edge::{binary, Edge, ANY_PORT};
use crate::common::redis::RedisServer;
use crate::common::{client, wait_until};

const TOKEN: &str = "s3cret-admin-token";

struct Setup {
    _edge: Edge,
    admin: SocketAddr,
    redis: RedisServer,
}

fn config(admin: SocketAddr, redis_port: u16) -> String {
    format!(
        r#"
[upstreams.app]
servers = [{{ addr = "127.0.0.1:9001", weight = 2 }}, {{ addr = "127.0.0.1:9002", backup = true }}]

[caches.main]
l1_capacity = "16MiB"

[caches.main.redis]
mode = "single"
addresses = ["127.0.0.1:{redis_port}"]
purge_timeout = "2s"

[[servers]]
name = "admin"
listen = ["{admin}"]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]

[[servers.routes]]
path = "/status/upstreams"
plugins = [{{ name = "upstream-status" }}]

[[servers.routes]]
path = "/purge"
plugins = [
  {{ name = "admin-token", config = {{ token_env = "EDGEPROXY_ADMIN_TOKEN" }} }},
  {{ name = "cache-purge" }},
]
"#
    )
}

fn setup() -> Setup {
    let redis = RedisServer::start();
    let edge = Edge::start_with(
        &config(ANY_PORT, redis.node.port),
        &[("EDGEPROXY_ADMIN_TOKEN", TOKEN)],
    );
    let admin = edge.addr();
    Setup {
        _edge: edge,
        admin,
        redis,
    }
}

fn purge(s: &Setup, query: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let mut req = client().post(format!("http://{}/purge?{query}", s.admin));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().unwrap())
}

fn exists(s: &Setup, key: &str) -> bool {
    s.redis.node.cli(&["EXISTS", key]).trim() == "1"
}

#[test]
fn purge_deletes_in_redis_and_broadcasts() {
    let s = setup();
    for k in ["ep:product:1", "ep:product:2", "ep:shop:1"] {
        s.redis.node.cli(&["SET", k, "v"]);
        assert!(exists(&s, k));
    }
    let client_redis = redis::Client::open(s.redis.url()).unwrap();
    let mut sub = client_redis.get_connection().unwrap();
    let mut sub = sub.as_pubsub();
    sub.subscribe("edgeproxy:purge").unwrap();
    sub.set_read_timeout(Some(Duration::from_secs(5))).unwrap();

    let (status, body) = purge(&s, "cache=main&key=product%3A1", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"cache": "main", "key": "product:1", "purged": true, "scope": "all-nodes",
            "steps": {"local_l1": "done", "redis_delete": "done", "broadcast": "done"}})
    );
    assert!(!exists(&s, "ep:product:1"), "key deleted in Redis");
    assert!(exists(&s, "ep:product:2"));
    // `a:<token>:` asks the subscribers to confirm; this plain listener does not, and the
    // purge does not wait for it (it is not a confirming subscriber).
    let msg: String = sub.get_message().unwrap().get_payload().unwrap();
    let purge_part = |m: &str| {
        m.strip_prefix("a:")
            .and_then(|m| m.split_once(':'))
            .map(|(_, p)| p.to_string())
    };
    assert_eq!(
        purge_part(&msg).as_deref(),
        Some("k:product:1"),
        "purge broadcast to every node's L1: {msg}"
    );

    let (status, body) = purge(&s, "cache=main&prefix=product", Some(TOKEN));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["redis_keys_deleted"], 1);
    assert!(!exists(&s, "ep:product:2"));
    assert!(exists(&s, "ep:shop:1"), "other prefixes stay");
    let msg: String = sub.get_message().unwrap().get_payload().unwrap();
    assert_eq!(purge_part(&msg).as_deref(), Some("p:product"), "{msg}");
}

#[test]
fn purge_requires_token_post_and_valid_parameters() {
    let s = setup();
    s.redis.node.cli(&["SET", "ep:k", "v"]);

    for token in [None, Some("wrong"), Some("s3cret-admin-toke")] {
        let (status, body) = purge(&s, "cache=main&key=k", token);
        assert_eq!(status, 401, "{token:?}: {body}");
    }
    assert!(exists(&s, "ep:k"), "nothing purged without the token");

    let resp = client()
        .get(format!("http://{}/purge?cache=main&key=k", s.admin))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 405);
    assert_eq!(resp.headers()["allow"], "POST");

    for (query, want) in [
        ("cache=main", "give `key=K` or `prefix=P`"),
        ("cache=main&key=k&prefix=k", "not both"),
        (
            "cache=other&key=k",
            "unknown cache `other`; known caches: main",
        ),
        ("key=k", "missing parameter `cache`"),
    ] {
        let (status, body) = purge(&s, query, Some(TOKEN));
        assert_eq!(status, 400, "{query}: {body}");
        let err = body["error"].as_str().unwrap();
        assert!(err.contains(want), "{query}: {err}");
    }
    assert!(exists(&s, "ep:k"), "bad requests purge nothing");
}

#[test]
fn purge_with_redis_down_is_502() {
    let mut s = setup();
    s.redis.node.kill();
    let (status, body) = purge(&s, "cache=main&key=k", Some(TOKEN));
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["purged"], false);
    assert!(body["error"].as_str().unwrap().contains("retry"), "{body}");
}

/// The purge's bound (`purge_timeout` in the config above) and the slack allowed on top.
const PURGE_TIMEOUT: Duration = Duration::from_secs(2);
const SLACK: Duration = Duration::from_millis(500);

#[test]
fn purge_with_frozen_redis_answers_within_purge_timeout_and_says_what_failed() {
    let s = setup();
    let (status, body) = purge(&s, "cache=main&key=k", Some(TOKEN));
    assert_eq!(status, 200, "connection made while Redis answers: {body}");
    s.redis.node.freeze();
    let started = std::time::Instant::now();
    let (status, body) = purge(&s, "cache=main&key=k", Some(TOKEN));
    let took = started.elapsed();
    s.redis.node.thaw();
    assert!(took < PURGE_TIMEOUT + SLACK, "answered after {took:?}");
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["purged"], false);
    assert_eq!(body["scope"], "this-node");
    assert_eq!(
        body["steps"],
        serde_json::json!({"local_l1": "done", "redis_delete": "failed", "broadcast": "failed"}),
        "the broadcast is tried after a failed delete"
    );
    let err = body["error"].as_str().unwrap();
    assert!(
        err.contains("redis delete of \"k\" failed: no answer from redis within 1s")
            && err.contains(
                "broadcast of \"k\" failed: no answer from redis before purge_timeout (2s) ran out"
            )
            && err.contains("retry"),
        "{err}"
    );
}

#[test]
fn purge_waits_out_a_redis_pause_shorter_than_its_bound() {
    let s = setup();
    s.redis.node.cli(&["SET", "ep:k", "v"]);
    let (status, body) = purge(&s, "cache=main&key=other", Some(TOKEN));
    assert_eq!(status, 200, "connection made while Redis answers: {body}");
    // A 300 ms pause: far longer than the request path's Redis `timeout` (100 ms), well
    // within the delete's half of `purge_timeout`.
    s.redis.node.freeze();
    let thaw = std::thread::scope(|scope| {
        let t = scope.spawn(|| {
            std::thread::sleep(Duration::from_millis(300));
            s.redis.node.thaw();
        });
        let answer = purge(&s, "cache=main&key=k", Some(TOKEN));
        let _ = t.join();
        answer
    });
    let (status, body) = thaw;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["purged"], true);
    assert!(!exists(&s, "ep:k"));
}

#[test]
fn metrics_and_upstream_status() {
    let s = setup();
    let c = client();
    // Something to count: request logging happens after the answer, so poll.
    purge(&s, "cache=main&key=k", None);
    let mut text = String::new();
    wait_until("a 4xx in /metrics", Duration::from_secs(5), || {
        let resp = c.get(format!("http://{}/metrics", s.admin)).send().unwrap();
        assert_eq!(resp.status().as_u16(), 200);
        assert_eq!(resp.headers()["content-type"], "text/plain; version=0.0.4");
        text = resp.text().unwrap();
        text.contains("edgeproxy_requests_total{route=\"/purge\",server=\"admin\",status=\"4xx\"}")
    })
    .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(
        text.contains("edgeproxy_cache_breaker_open{cache=\"main\"} 0"),
        "{text}"
    );

    let resp = c
        .get(format!("http://{}/status/upstreams", s.admin))
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let v: serde_json::Value = resp.json().unwrap();
    let app = &v["upstreams"]["app"];
    assert_eq!(app["balance"], "round_robin");
    let members = app["members"].as_array().unwrap();
    assert_eq!(members.len(), 2, "{v}");
    assert_eq!(members[0]["addr"], "127.0.0.1:9001");
    assert_eq!(members[0]["weight"], 2);
    assert_eq!(members[0]["health"], "up");
    assert_eq!(members[1]["backup"], true);
}

#[test]
fn check_fails_clearly_without_the_token_variable() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("admin.toml");
    std::fs::write(&path, config("127.0.0.1:1".parse().unwrap(), 6379)).unwrap();
    let out = Command::new(binary())
        .args(["-t", "-c"])
        .arg(&path)
        .env_remove("EDGEPROXY_ADMIN_TOKEN")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("plugin `admin-token`: environment variable `EDGEPROXY_ADMIN_TOKEN` (the admin token) is not set"),
        "{err}"
    );
    let out = Command::new(binary())
        .args(["-t", "-c"])
        .arg(&path)
        .env("EDGEPROXY_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains(TOKEN), "token echoed: {err}");
}

#[test]
fn upstream_status_shows_consul_watcher_state() {
    let consul = ConsulDouble::start();
    consul.put("upstreams/dyn/127.0.0.1:8011", r#"{"weight":3}"#);
    let admin = ANY_PORT;
    let cfg = format!(
        r#"
[upstreams.dyn]
[upstreams.dyn.consul]
address = "{url}"
prefix = "upstreams/dyn/"
wait = "1s"
max_backoff = "200ms"

[[servers]]
name = "admin"
listen = ["{admin}"]

[[servers.routes]]
path = "/status/upstreams"
plugins = [{{ name = "upstream-status" }}]
"#,
        url = consul.url()
    );
    let edge = Edge::start(&cfg);
    let admin = edge.addr();
    let c = client();
    let status = || -> serde_json::Value {
        let url = format!("http://{admin}/status/upstreams");
        c.get(url).send().unwrap().json().unwrap()
    };
    let mut v = serde_json::Value::Null;
    wait_until("a first watcher success", Duration::from_secs(5), || {
        v = status();
        // The start-up read is not recorded in the watcher's status: the first success is
        // the first blocking query returning (within `wait`).
        v["upstreams"]["dyn"]["consul"]["watch"]["last_success_age_ms"].is_u64()
    })
    .unwrap_or_else(|e| panic!("{e}\n{v}"));
    let g = &v["upstreams"]["dyn"];
    assert_eq!(g["members"][0]["addr"], "127.0.0.1:8011", "{v}");
    assert_eq!(g["members"][0]["weight"], 3);
    assert_eq!(g["consul"]["prefix"], "upstreams/dyn/");
    let w = &g["consul"]["watch"];
    assert!(w["last_index"].as_u64() >= Some(1), "{w}");
    assert!(w["last_success_age_ms"].is_u64(), "{w}");
    assert_eq!(w["consecutive_errors"], 0);
    assert!(w["last_error"].is_null());

    consul.fail_with_500(true);
    consul.put("upstreams/dyn/127.0.0.1:8012", ""); // wakes the blocked query; the next one fails
    wait_until("a watcher error", Duration::from_secs(5), || {
        v = status();
        v["upstreams"]["dyn"]["consul"]["watch"]["consecutive_errors"].as_u64() >= Some(1)
    })
    .unwrap_or_else(|e| panic!("{e}\n{v}"));
    let g = &v["upstreams"]["dyn"];
    assert!(g["consul"]["watch"]["last_error"].is_string(), "{v}");
    // The waiting query may still have returned the new node before the failures began;
    // either way the last known set is kept, never emptied.
    assert!(
        g["members"][0]["addr"] == "127.0.0.1:8011",
        "last known set kept: {v}"
    );
}
