//! Proxying through the real binary: forwarding headers, weighted round robin, retries,
//! 502/504, limits (414, 431, 413), malformed requests (400), and one access-log line per
//! request whatever happened.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::edge::Edge;
use crate::common::origin::Origin;
use crate::common::{client, free_port, raw_request, wait_until};

struct Setup {
    edge: Edge,
    addr: SocketAddr,
    h2c: SocketAddr,
    a: Origin,
    b: Origin,
    _hang: Origin,
}

fn setup() -> Setup {
    let a = Origin::start();
    let b = Origin::start();
    let dead = free_port();
    let (port, h2c) = (0, 0);
    // Accepts connections but never answers: read timeout -> 504.
    let hang = Origin::builder().hang().start();
    let cfg = format!(
        r#"
[upstreams.weighted]
servers = [{{ addr = "{a}", weight = 3 }}, {{ addr = "{b}", weight = 1 }}]

[upstreams.retry]
servers = [{{ addr = "127.0.0.1:{dead}", weight = 100 }}, {{ addr = "{a}", weight = 1 }}]
retries = 1
max_fails = 0

[upstreams.alldead]
servers = [{{ addr = "127.0.0.1:{dead}" }}]

[upstreams.slow]
servers = [{{ addr = "{hang}" }}]
read_timeout = "300ms"

[[servers]]
listen = ["127.0.0.1:{port}", {{ addr = "127.0.0.1:{h2c}", http2 = true }}]
max_header_bytes = "4KiB"
max_headers = 20
max_uri_bytes = "1KiB"
max_body_bytes = "1KiB"
plugins = [{{ name = "access-log", config = {{ path = "access.log" }} }}]

[[servers.routes]]
path_prefix = "/w/"
upstream = "weighted"

[[servers.routes]]
path_prefix = "/retry/"
upstream = "retry"

[[servers.routes]]
path_prefix = "/dead/"
upstream = "alldead"

[[servers.routes]]
path_prefix = "/slow/"
upstream = "slow"

[[servers.routes]]
path_prefix = "/big/"
upstream = "weighted"
max_body_bytes = "64KiB"
"#,
        a = a.addr,
        b = b.addr,
        hang = hang.addr,
    );
    let edge = Edge::start(&cfg);
    let [addr, h2c] = edge.listening();
    Setup {
        edge,
        addr,
        h2c,
        a,
        b,
        _hang: hang,
    }
}

fn log_lines(edge: &Edge) -> Vec<serde_json::Value> {
    std::fs::read_to_string(edge.path("access.log"))
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).expect("access log line is JSON"))
        .collect()
}

#[test]
fn proxying_limits_and_errors() {
    check(&setup(), false);
}

/// The same requests over HTTP/2 (h2c): the same statuses, limits and log lines.
#[test]
fn proxying_limits_and_errors_over_http2() {
    check(&setup(), true);
}

fn check(s: &Setup, h2: bool) {
    let (c, base) = match h2 {
        false => (client(), s.addr),
        true => (
            reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .http2_prior_knowledge()
                .build()
                .unwrap(),
            s.h2c,
        ),
    };
    let url = |p: &str| format!("http://{base}{p}");
    let mut sent = 0usize;

    // Forwarding headers reach the upstream.
    let r = c
        .get(url("/w/x"))
        .header("x-forwarded-for", "10.1.1.1")
        .send()
        .unwrap();
    sent += 1;
    assert_eq!(r.status(), 200);
    let seen = s.a.seen().into_iter().chain(s.b.seen()).last().unwrap();
    assert_eq!(seen.headers["x-forwarded-for"], "10.1.1.1, 127.0.0.1");
    assert_eq!(seen.headers["x-real-ip"], "127.0.0.1");
    assert!(seen.headers.contains_key("x-request-id"));

    // Weighted round robin: 3:1.
    let (a0, b0) = (s.a.hits(), s.b.hits());
    for _ in 0..40 {
        assert_eq!(c.get(url("/w/rr")).send().unwrap().status(), 200);
        sent += 1;
    }
    assert_eq!((s.a.hits() - a0, s.b.hits() - b0), (30, 10));

    // Connect failure on the first peer retries the next one.
    for _ in 0..5 {
        let r = c.get(url("/retry/x")).send().unwrap();
        sent += 1;
        assert_eq!(r.status(), 200);
    }

    // No peer answers: 502 with a clear body; a hung peer: 504.
    let r = c.get(url("/dead/x")).send().unwrap();
    sent += 1;
    assert_eq!(r.status(), 502);
    let body = r.text().unwrap();
    assert!(
        body.contains("502") && body.contains("request id"),
        "{body}"
    );
    let r = c.get(url("/slow/x")).send().unwrap();
    sent += 1;
    assert_eq!(r.status(), 504);

    // Limits.
    let r = c
        .get(url(&format!("/w/{}", "a".repeat(2000))))
        .send()
        .unwrap();
    sent += 1;
    assert_eq!(r.status(), 414);
    let mut req = c.get(url("/w/x"));
    for i in 0..30 {
        req = req.header(format!("x-h{i}"), "v");
    }
    assert_eq!(req.send().unwrap().status(), 431);
    sent += 1;
    let r = c
        .get(url("/w/x"))
        .header("x-big", "v".repeat(5000))
        .send()
        .unwrap();
    sent += 1;
    assert_eq!(r.status(), 431);
    let r = c.post(url("/w/x")).body(vec![b'x'; 2048]).send().unwrap();
    sent += 1;
    assert_eq!(r.status(), 413);
    let r = c.post(url("/big/x")).body(vec![b'x'; 2048]).send().unwrap();
    sent += 1;
    assert_eq!(r.status(), 200, "route-level limit overrides the server's");

    // A body without a length (chunked, or HTTP/2 DATA frames) over the limit: checked
    // while streaming.
    let streamed = reqwest::blocking::Body::new(std::io::Cursor::new(vec![b'x'; 1200]));
    let r = c.post(url("/w/x")).body(streamed).send().unwrap();
    sent += 1;
    assert_eq!(r.status(), 413);
    if h2 {
        assert_eq!(r.version(), reqwest::Version::HTTP_2);
    } else {
        let chunk = "x".repeat(600);
        let raw = format!(
            "POST /w/x HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n258\r\n{chunk}\r\n258\r\n{chunk}\r\n0\r\n\r\n"
        );
        let resp = raw_request(s.addr, raw.as_bytes());
        sent += 1;
        assert!(resp.starts_with("HTTP/1.1 413"), "{resp}");
    }

    // Malformed request: 400, and the worker survives.
    let resp = raw_request(s.addr, b"GARBAGE\r\n\r\n");
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");
    let resp = raw_request(
        s.addr,
        b"GET /w/x HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "{resp}");

    // Unknown path: 404.
    let mut edge_ok = c.get(url("/nothing")).send().unwrap().status() == 404;
    sent += 1;
    edge_ok &= c.get(url("/w/after")).send().unwrap().status() == 200;
    sent += 1;
    assert!(edge_ok, "edge misbehaved after bad input");

    // One JSON access-log line per request that reached the proxy logic
    // (Pingora answers unparseable requests with 400 before any hook runs).
    wait_until(
        &format!("{sent} access-log lines"),
        Duration::from_secs(5),
        || log_lines(&s.edge).len() >= sent,
    )
    .unwrap_or_else(|e| panic!("{e}, got {}", log_lines(&s.edge).len()));
    let lines = log_lines(&s.edge);
    assert_eq!(lines.len(), sent);
    let statuses: Vec<u64> = lines
        .iter()
        .map(|l| l["status"].as_u64().unwrap())
        .collect();
    for code in [200, 502, 504, 414, 431, 413, 404] {
        assert!(statuses.contains(&code), "no {code} logged: {statuses:?}");
    }
    let dead = lines.iter().find(|l| l["status"] == 502).unwrap();
    let why = dead["error"].as_str().unwrap();
    assert!(
        why.contains("alldead") && why.contains("connect to"),
        "{dead}"
    );
}
