//! Local answers below pingora-proxy (issue 23 item 2, docs/direct.md): requests of local
//! routes are answered on Pingora's session directly, and nothing a client can see differs
//! from pingora-proxy's path (`direct_answers = false`) — statuses, headers, bodies,
//! framing, pipelining, keep-alive, errors, the access log and the request metrics — while
//! proxied routes and anything not plainly local still go through the proxy.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::edge::{binary, Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::raw::{raw_request, read_response};
use crate::common::scrape::metric;

/// The respond plugin of route `/local`, answering `body`.
fn respond(body: &str) -> String {
    format!(
        r#"plugins = [{{ name = "respond", config = {{ status = 200, body = "{body}\n", headers = {{ "x-kind" = "local" }} }} }}]"#
    )
}

fn config(origin: SocketAddr, direct: bool, local: &str) -> String {
    format!(
        r#"
[server]
direct_answers = {direct}
pid_file = "{{dir}}/edgeproxy.pid"
upgrade_sock = "{{dir}}/upgrade.sock"

[upstreams.backend]
servers = [{{ addr = "{origin}" }}]

[[servers]]
name = "mixed"
listen = ["{ANY_PORT}"]

[[servers.routes]]
path = "/local"
{local}

[[servers.routes]]
path_prefix = "/moved"
plugins = [{{ name = "redirect", config = {{ location = "http://a/local", status = 301 }} }}]

[[servers.routes]]
path_prefix = "/api"
upstream = "backend"

[[servers]]
name = "local-only"
listen = ["{ANY_PORT}"]

[[servers.routes]]
path = "/only"
plugins = [{{ name = "respond", config = {{ status = 200, body = "only\n" }} }}]

[[servers]]
name = "admin"
listen = ["{ANY_PORT}"]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]
"#
    )
}

struct Pair {
    direct: Edge,
    proxied: Edge,
    _origin: Origin,
}

fn pair() -> Pair {
    let origin = Origin::builder()
        .route("/api/x", 200, "from origin")
        .start();
    let direct = Edge::start(&config(origin.addr, true, &respond("hello")));
    let proxied = Edge::start(&config(origin.addr, false, &respond("hello")));
    Pair {
        direct,
        proxied,
        _origin: origin,
    }
}

/// A response without the headers that differ between any two answers (`Date`, the
/// request id).
fn stable(resp: &str) -> String {
    resp.split("\r\n")
        .filter(|l| {
            let l = l.to_ascii_lowercase();
            !l.starts_with("date:") && !l.starts_with("x-request-id:") && !l.contains("request id:")
        })
        .collect::<Vec<_>>()
        .join("\r\n")
}

/// Requests that exercise the choice and the phases: local, redirect, no route, proxied,
/// HEAD, a body, an absolute-form target, a dot-segment path, Host trouble, CONNECT, a
/// broken header line, HTTP/1.0.
const REQUESTS: &[&str] = &[
    "GET /local HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /local?x=1 HTTP/1.1\r\nHost: A:80\r\nConnection: close\r\n\r\n",
    "HEAD /local HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /moved/x HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n",
    "POST /local HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
    "POST /local HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "GET http://a/local HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /api/../local HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /%6cocal HTTP/1.1\r\nHost: a\r\n\r\n",
    "GET /local HTTP/1.1\r\n\r\n",
    "GET /local HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    "GET /local HTTP/1.1\r\nHost: a b\r\n\r\n",
    "CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n",
    "GET /local HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n",
    "GET /local HTTP/1.0\r\n\r\n",
    "GET /local HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
];

#[test]
fn every_answer_is_the_same_on_both_paths() {
    let p = pair();
    for req in REQUESTS {
        let a = stable(&raw_request(p.direct.addr(), req.as_bytes()));
        let b = stable(&raw_request(p.proxied.addr(), req.as_bytes()));
        assert!(!a.is_empty(), "no answer to {req:?}");
        assert_eq!(a, b, "request {req:?}");
    }
    let [_, only, _] = p.direct.listening();
    let [_, only_proxied, _] = p.proxied.listening();
    let req = b"GET /only HTTP/1.1\r\nHost: a\r\n\r\n";
    let (a, b) = (raw_request(only, req), raw_request(only_proxied, req));
    assert_eq!(stable(&a), stable(&b));
    assert!(a.ends_with("only\n"), "{a}");
}

#[test]
fn local_answers_are_counted_as_direct_and_proxied_ones_are_not() {
    let p = pair();
    let [mixed, only, admin] = p.direct.listening();
    let series = |server| format!(r#"edgeproxy_direct_answers_total{{server="{server}"}}"#);
    let count = |server| metric(admin, &series(server)).unwrap_or(0.0);
    raw_request(mixed, b"GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(
        count("mixed"),
        0.0,
        "a proxied request was answered directly"
    );
    raw_request(mixed, b"GET /local HTTP/1.1\r\nHost: a\r\n\r\n");
    raw_request(mixed, b"GET /moved/1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!(count("mixed"), 2.0);
    raw_request(only, b"GET /nowhere HTTP/1.1\r\nHost: a\r\n\r\n");
    let only_count = count("local-only");
    assert_eq!(
        only_count, 1.0,
        "a block of local routes answers its 404 too"
    );
    // The request metrics and the access log are the proxy's own.
    let local = r#"edgeproxy_requests_total{route="/local",server="mixed",status="2xx"}"#;
    assert_eq!(metric(admin, local), Some(1.0));
    let [_, _, admin_off] = p.proxied.listening();
    let off = metric(admin_off, &series("mixed")).unwrap_or(0.0);
    assert_eq!(off, 0.0, "direct_answers = false answered directly");
}

/// Sends `requests` in one write on one connection and returns the bodies in order.
fn pipeline(addr: SocketAddr, requests: &[&str]) -> Vec<String> {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(requests.concat().as_bytes()).expect("write");
    (0..requests.len())
        .map(|i| {
            let resp = read_response(&mut s).unwrap_or_else(|| panic!("response {i} missing"));
            resp.split_once("\r\n\r\n")
                .map(|(_, b)| b.to_string())
                .unwrap_or_default()
        })
        .collect()
}

#[test]
fn pipelined_and_kept_alive_requests_mix_both_paths_in_order() {
    let p = pair();
    let local = "GET /local HTTP/1.1\r\nHost: a\r\n\r\n";
    let api = "GET /api/x HTTP/1.1\r\nHost: a\r\n\r\n";
    let post = "POST /local HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc";
    // (A local answer to a request whose body was not read closes the connection after
    // it — Pingora's `close_on_response_before_downstream_finish`, on both paths — so the
    // POST comes last.)
    let want = [
        "hello\n",
        "hello\n",
        "from origin",
        "hello\n",
        "from origin",
        "hello\n",
    ];
    for edge in [&p.proxied, &p.direct] {
        let bodies = pipeline(edge.addr(), &[local, local, api, local, api, post]);
        assert_eq!(bodies, want);
    }
    // The same, one request per write on a kept-alive connection.
    let mut s = TcpStream::connect(p.direct.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    for (req, want) in [(local, "hello\n"), (api, "from origin"), (local, "hello\n")] {
        s.write_all(req.as_bytes()).expect("write");
        let resp = read_response(&mut s).expect("response on the kept-alive connection");
        assert!(resp.ends_with(want), "{resp}");
    }
}

#[test]
fn a_request_sent_in_pieces_is_answered() {
    let p = pair();
    let mut s = TcpStream::connect(p.direct.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    for piece in ["GET /lo", "cal HTTP/1.1\r\nHo", "st: a\r\n", "\r\n"] {
        s.write_all(piece.as_bytes()).expect("write");
        std::thread::sleep(Duration::from_millis(30));
    }
    let resp = read_response(&mut s).expect("response");
    assert!(
        resp.starts_with("HTTP/1.1 200") && resp.ends_with("hello\n"),
        "{resp}"
    );
}

#[test]
fn a_kept_alive_connection_follows_a_reload_that_makes_a_local_route_proxied() {
    let origin = Origin::builder()
        .route("/local", 200, "now proxied")
        .start();
    let edge = Edge::start(&config(origin.addr, true, &respond("v1")));
    let conf = edge.path("edgeproxy.toml");
    let mut s = TcpStream::connect(edge.addr()).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    let req = b"GET /local HTTP/1.1\r\nHost: a\r\n\r\n";
    s.write_all(req).expect("write");
    assert!(read_response(&mut s).expect("v1").ends_with("v1\n"));
    // The same path, now proxied: the connection idles across the reload.
    let dir = edge.dir.path().display().to_string();
    let text = config(origin.addr, true, r#"upstream = "backend""#).replace("{dir}", &dir);
    std::fs::write(&conf, text).expect("write config");
    let out = std::process::Command::new(binary())
        .args(["-s", "reload", "-c"])
        .arg(&conf)
        .output()
        .expect("run edgeproxy -s reload");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    s.write_all(req).expect("write");
    let resp = read_response(&mut s).expect("answer after the reload");
    assert!(resp.ends_with("now proxied"), "{resp}");
}
