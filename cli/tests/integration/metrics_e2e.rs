//! The metrics operators expect, through the real binary: requests by server, route and
//! status class with their duration, upstream responses by group with their time, aborted
//! requests apart (never a `status="0"` series), cache lookups by cache, and the failure
//! record of a dead upstream member in `/status/upstreams`.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::{client, free_addr, wait_until};

const BOUND: Duration = Duration::from_secs(10);
const PRODUCT: &str = r#"{"productName":"Phone"}"#;

struct Addrs {
    edge: SocketAddr,
    admin: SocketAddr,
    origin: SocketAddr,
    slow: SocketAddr,
    dead: [SocketAddr; 2],
}

fn config(a: &Addrs, template: &str) -> String {
    let page = |cache: &str| {
        format!(
            r#"{{ name = "page", config = {{ cache = "{cache}", template = "{template}", params = {{ id = {{ pattern = "[0-9]+" }} }}, sources = [{{ name = "product", key = "p_{{id}}", origin = "app", path = "/p/{{id}}", ttl = "1m" }}] }} }}"#
        )
    };
    format!(
        r#"
[upstreams.app]
servers = [{{ addr = "{origin}" }}]

[upstreams.slow]
servers = [{{ addr = "{slow}" }}]

[upstreams.dead]
servers = [{{ addr = "{dead0}" }}, {{ addr = "{dead1}" }}]

[caches.one]
l1_capacity = "1MiB"

[caches.two]
l1_capacity = "1MiB"

[[servers]]
name = "edge"
listen = ["{edge}"]

[[servers.routes]]
name = "api"
path_prefix = "/api/"
upstream = "app"

[[servers.routes]]
name = "down"
path_prefix = "/down/"
upstream = "dead"

[[servers.routes]]
name = "slow"
path_prefix = "/slow/"
upstream = "slow"

[[servers.routes]]
path = "/hello"
plugins = [{{ name = "respond", config = {{ status = 200, body = "hi" }} }}]

[[servers.routes]]
path = "/one"
plugins = [{page_one}]

[[servers.routes]]
path = "/two"
plugins = [{page_two}]

[[servers]]
name = "admin"
listen = ["{admin}"]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]

[[servers.routes]]
path = "/status/upstreams"
plugins = [{{ name = "upstream-status" }}]
"#,
        origin = a.origin,
        slow = a.slow,
        dead0 = a.dead[0],
        dead1 = a.dead[1],
        edge = a.edge,
        admin = a.admin,
        page_one = page("one"),
        page_two = page("two"),
    )
}

/// The value of the series written exactly as `series` (name and labels) in `text`.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn requests_upstreams_caches_and_failures_are_labelled_and_counted() {
    let origin = Origin::builder()
        .route("/api/gone", 404, "gone")
        .route("/p/1", 200, PRODUCT)
        .start();
    let slow = Origin::builder().delay(Duration::from_secs(2)).start();
    let a = Addrs {
        edge: ANY_PORT,
        admin: ANY_PORT,
        origin: origin.addr,
        slow: slow.addr,
        dead: [free_addr(), free_addr()],
    };
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("p.hbs");
    std::fs::write(&template, "{{product.productName}}").unwrap();
    let edge = Edge::start(&config(&a, &template.display().to_string()));
    let [listen, admin] = edge.listening();
    let a = Addrs {
        edge: listen,
        admin,
        ..a
    };
    let c = client();
    let get = |path: &str| {
        let r = c.get(format!("http://{}{path}", a.edge)).send().unwrap();
        r.status().as_u16()
    };

    for _ in 0..3 {
        assert_eq!(get("/api/x"), 200);
    }
    assert_eq!(get("/api/gone"), 404, "the origin's 404");
    for _ in 0..3 {
        assert_eq!(get("/down/x"), 502, "{}", edge.stderr());
    }
    assert_eq!(get("/hello"), 200);
    assert_eq!(get("/nowhere"), 404, "no route");
    assert_eq!(get("/one?id=1"), 200, "{}", edge.stderr());
    assert_eq!(get("/one?id=1"), 200);
    assert_eq!(get("/two?id=1"), 200);
    // A client that leaves while the upstream thinks: nothing is ever sent to it.
    let mut gone = TcpStream::connect(a.edge).unwrap();
    gone.write_all(b"GET /slow/x HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    drop(gone);

    let scrape = || {
        let url = format!("http://{}/metrics", a.admin);
        client().get(url).send().unwrap().text().unwrap()
    };
    let aborted = "edgeproxy_requests_aborted_total{server=\"edge\"}";
    let mut text = String::new();
    wait_until("the aborted request counted", BOUND, || {
        text = scrape();
        value(&text, aborted) == Some(1.0)
    })
    .unwrap_or_else(|e| panic!("{e}\n{text}"));

    let expect = [
        // requests by server, route and status class; the route's name, or the match
        (
            "edgeproxy_requests_total{route=\"api\",server=\"edge\",status=\"2xx\"}",
            3.0,
        ),
        (
            "edgeproxy_requests_total{route=\"api\",server=\"edge\",status=\"4xx\"}",
            1.0,
        ),
        (
            "edgeproxy_requests_total{route=\"down\",server=\"edge\",status=\"5xx\"}",
            3.0,
        ),
        (
            "edgeproxy_requests_total{route=\"/hello\",server=\"edge\",status=\"2xx\"}",
            1.0,
        ),
        (
            "edgeproxy_requests_total{route=\"-\",server=\"edge\",status=\"4xx\"}",
            1.0,
        ),
        (
            "edgeproxy_requests_total{route=\"/one\",server=\"edge\",status=\"2xx\"}",
            2.0,
        ),
        (
            "edgeproxy_requests_total{route=\"slow\",server=\"edge\",status=\"2xx\"}",
            0.0,
        ),
        // one duration per answered request, none for the aborted one
        (
            "edgeproxy_request_duration_seconds_count{route=\"api\",server=\"edge\"}",
            4.0,
        ),
        (
            "edgeproxy_request_duration_seconds_count{route=\"down\",server=\"edge\"}",
            3.0,
        ),
        (
            "edgeproxy_request_duration_seconds_count{route=\"-\",server=\"edge\"}",
            1.0,
        ),
        (
            "edgeproxy_request_duration_seconds_count{route=\"slow\",server=\"edge\"}",
            0.0,
        ),
        (
            "edgeproxy_request_duration_seconds_bucket{route=\"api\",server=\"edge\",le=\"+Inf\"}",
            4.0,
        ),
        // upstream responses by group and the upstream's status class, and their time
        (
            "edgeproxy_upstream_requests_total{group=\"app\",status=\"2xx\"}",
            3.0,
        ),
        (
            "edgeproxy_upstream_requests_total{group=\"app\",status=\"4xx\"}",
            1.0,
        ),
        (
            "edgeproxy_upstream_requests_total{group=\"dead\",status=\"5xx\"}",
            0.0,
        ),
        (
            "edgeproxy_upstream_response_seconds_count{group=\"app\"}",
            4.0,
        ),
        (
            "edgeproxy_upstream_response_seconds_count{group=\"dead\"}",
            0.0,
        ),
        // each of the 3 requests tried both dead members
        (
            "edgeproxy_upstream_connect_failures_total{group=\"dead\"}",
            6.0,
        ),
        // lookups by cache
        (
            "edgeproxy_cache_lookups_total{cache=\"one\",level=\"ORIGIN\"}",
            1.0,
        ),
        (
            "edgeproxy_cache_lookups_total{cache=\"one\",level=\"L1\"}",
            1.0,
        ),
        (
            "edgeproxy_cache_lookups_total{cache=\"two\",level=\"ORIGIN\"}",
            1.0,
        ),
        (
            "edgeproxy_cache_lookups_total{cache=\"two\",level=\"L1\"}",
            0.0,
        ),
        ("edgeproxy_cache_lookup_errors_total{cache=\"one\"}", 0.0),
        ("edgeproxy_cache_redis_errors_total{cache=\"two\"}", 0.0),
        ("edgeproxy_cache_breaker_open{cache=\"one\"}", 0.0),
    ];
    for (series, want) in expect {
        assert_eq!(value(&text, series), Some(want), "{series} in:\n{text}");
    }
    for le in ["0.001", "0.1", "1", "10"] {
        let bucket =
            format!("edgeproxy_upstream_response_seconds_bucket{{group=\"app\",le=\"{le}\"}}");
        assert!(value(&text, &bucket).is_some(), "{bucket} in:\n{text}");
    }
    assert!(
        text.contains("# TYPE edgeproxy_request_duration_seconds histogram"),
        "{text}"
    );
    assert!(
        !text.contains("status=\"0\""),
        "a status=\"0\" series:\n{text}"
    );

    let url = format!("http://{}/status/upstreams", a.admin);
    let v: serde_json::Value = client().get(url).send().unwrap().json().unwrap();
    for (i, m) in v["upstreams"]["dead"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(m["addr"], a.dead[i].to_string());
        assert_eq!(
            m["failures"],
            serde_json::json!({"passive": 3, "connect": 3, "check": 0}),
            "{v}"
        );
        let message = m["last_error"]["message"].as_str().unwrap_or_default();
        let peer = a.dead[i].to_string();
        assert!(
            message.starts_with("connect to") && message.contains(&peer),
            "{v}"
        );
        assert!(m["last_error"]["ago_ms"].as_u64().is_some(), "{v}");
    }
    let app = &v["upstreams"]["app"]["members"][0];
    assert_eq!(
        app["failures"],
        serde_json::json!({"passive": 0, "connect": 0, "check": 0})
    );
    assert!(app["last_error"].is_null(), "{v}");
}
