//! `rate-limit` with local scope through the real binary: windows and nginx's leaky bucket
//! per key, 429 with `Retry-After` and `RateLimit-*`, `dry_run`, metrics per rule; a typo
//! in its config is a `-t` error at its position. (Redis scope: `gateway_rate_limit_redis.rs`.)

use std::net::SocketAddr;

use crate::common::client;
use crate::common::edge::{check_text, Edge, ANY_PORT};

fn config(listen: SocketAddr) -> String {
    format!(
        r#"
[[servers]]
listen = ["{listen}"]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]

[[servers.routes]]
path_prefix = "/window"
plugins = [
  {{ name = "rate-limit", config = {{ rule = "it-window", key = "$http_x_user", limit = 3, window = "1h", missing_key = "skip" }} }},
  {{ name = "respond", config = {{ body = "ok" }} }},
]

[[servers.routes]]
path_prefix = "/bucket"
plugins = [
  {{ name = "rate-limit", config = {{ rule = "it-bucket", algorithm = "leaky_bucket", rate = "1r/m", burst = 2, nodelay = true, headers = "limited" }} }},
  {{ name = "respond", config = {{ body = "ok" }} }},
]

[[servers.routes]]
path_prefix = "/dry"
plugins = [
  {{ name = "rate-limit", config = {{ rule = "it-dry", limit = 1, window = "1h", dry_run = true }} }},
  {{ name = "respond", config = {{ body = "ok" }} }},
]
"#
    )
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
}

fn get(listen: SocketAddr, path: &str, user: Option<&str>) -> Answer {
    let mut req = client().get(format!("http://{listen}{path}"));
    if let Some(u) = user {
        req = req.header("x-user", u);
    }
    let r = req.send().unwrap();
    Answer {
        status: r.status().as_u16(),
        headers: r.headers().clone(),
    }
}

fn header(a: &Answer, name: &str) -> String {
    a.headers
        .get(name)
        .map_or("-".into(), |v| v.to_str().unwrap().to_string())
}

#[test]
fn windows_buckets_dry_run_and_metrics() {
    let edge = Edge::start(&config(ANY_PORT));
    let listen = edge.addr();

    let alice: Vec<Answer> = (0..5)
        .map(|_| get(listen, "/window", Some("alice")))
        .collect();
    let statuses: Vec<u16> = alice.iter().map(|a| a.status).collect();
    assert_eq!(statuses, [200, 200, 200, 429, 429]);
    let remaining: Vec<String> = alice
        .iter()
        .map(|a| header(a, "ratelimit-remaining"))
        .collect();
    assert_eq!(remaining, ["2", "1", "0", "0", "0"]);
    assert_eq!(header(&alice[0], "ratelimit-limit"), "3");
    let reset: u64 = header(&alice[0], "ratelimit-reset").parse().unwrap();
    assert!((1..=3600).contains(&reset), "{reset}");
    let retry: u64 = header(&alice[3], "retry-after").parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(get(listen, "/window", Some("bob")).status, 200, "per key");
    for _ in 0..5 {
        assert_eq!(get(listen, "/window", None).status, 200, "no key: skipped");
    }

    let bucket: Vec<Answer> = (0..4).map(|_| get(listen, "/bucket", None)).collect();
    let statuses: Vec<u16> = bucket.iter().map(|a| a.status).collect();
    assert_eq!(
        statuses,
        [200, 200, 200, 429],
        "1 + burst at once (nodelay)"
    );
    assert_eq!(
        header(&bucket[0], "ratelimit-limit"),
        "-",
        "headers = limited"
    );
    assert_eq!(header(&bucket[3], "ratelimit-limit"), "3");

    for _ in 0..3 {
        assert_eq!(
            get(listen, "/dry", None).status,
            200,
            "dry_run never refuses"
        );
    }

    let metrics = client()
        .get(format!("http://{listen}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    for line in [
        r#"edgeproxy_rate_limit_requests_total{result="allowed",rule="it-window"} 4"#,
        r#"edgeproxy_rate_limit_requests_total{result="limited",rule="it-window"} 2"#,
        r#"edgeproxy_rate_limit_requests_total{result="skipped",rule="it-window"} 5"#,
        r#"edgeproxy_rate_limit_requests_total{result="limited",rule="it-bucket"} 1"#,
        r#"edgeproxy_rate_limit_requests_total{result="dry_run_limited",rule="it-dry"} 2"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert!(edge.stderr().contains("dry_run: not refused"));
}

#[test]
fn config_typos_are_errors_at_their_position() {
    let text = r#"[[servers]]
listen = ["127.0.0.1:1"]

[[servers.routes]]
path = "/"
plugins = [
  { name = "rate-limit", config = { rule = "r", limit = 10, windw = "1m" } },
]
"#;
    let checked = check_text(text);
    assert_eq!(checked.code, Some(1), "{}", checked.stderr);
    let at = format!(
        "{}:7:61: error: plugin `rate-limit`: unknown field `windw`",
        checked.path.display()
    );
    assert!(checked.stderr.contains(&at), "{}", checked.stderr);
    let text = text.replace("windw", "window").replace("limit = 10", "limit = 10, scope = \"redis\", redis = { addresses = [\"127.0.0.1:6379\"], mode = \"clustr\" }");
    let checked = check_text(&text);
    assert!(
        checked.stderr.contains("unknown variant `clustr`"),
        "{}",
        checked.stderr
    );
}
