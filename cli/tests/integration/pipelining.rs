//! Pipelined requests (issue 11, item 5): requests sent back to back on one connection, in
//! one write, are all answered, in order (RFC 9112 §9.3.2, as nginx does) — proxied,
//! answered locally, or mixed, with and without request bodies.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::raw::read_response;

fn setup() -> (Edge, SocketAddr, Origin) {
    let origin = Origin::start();
    let addr = ANY_PORT;
    let cfg = format!(
        r#"
[upstreams.backend]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = ["{addr}"]

[[servers.routes]]
path = "/local/a"
plugins = [{{ name = "respond", config = {{ status = 200, body = "local a\n" }} }}]

[[servers.routes]]
path = "/local/b"
plugins = [{{ name = "respond", config = {{ status = 200, body = "local b\n" }} }}]

[[servers.routes]]
upstream = "backend"
"#,
        origin = origin.addr
    );
    let edge = Edge::start(&cfg);
    let addr = edge.addr();
    (edge, addr, origin)
}

/// Sends `requests` in one write and reads `requests.len()` responses; returns each
/// response's body (an error names what was missing).
fn pipeline(addr: SocketAddr, requests: &[String]) -> Result<Vec<String>, String> {
    let mut s = TcpStream::connect(addr).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(requests.concat().as_bytes())
        .map_err(|e| e.to_string())?;
    let mut bodies = Vec::new();
    for i in 0..requests.len() {
        let resp = read_response(&mut s)
            .ok_or_else(|| format!("response {} of {} never came", i + 1, requests.len()))?;
        let (head, body) = resp.split_once("\r\n\r\n").unwrap_or((&resp, ""));
        if !head.starts_with("HTTP/1.1 200") {
            return Err(format!("response {}: {head}", i + 1));
        }
        bodies.push(body.to_string());
    }
    Ok(bodies)
}

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: t\r\n\r\n")
}

fn post(path: &str, body: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

#[test]
fn pipelined_proxied_requests_are_answered_in_order() {
    let (_edge, addr, origin) = setup();
    let bodies = pipeline(addr, &[get("/p/1"), get("/p/2"), get("/p/3")]).unwrap();
    let port = origin.addr.port();
    let want: Vec<String> = (1..=3).map(|i| format!("origin {port} /p/{i}\n")).collect();
    assert_eq!(bodies, want);
}

#[test]
fn pipelined_local_responses_are_answered_in_order() {
    let (_edge, addr, _origin) = setup();
    let bodies = pipeline(addr, &[get("/local/a"), get("/local/b")]).unwrap();
    assert_eq!(bodies, ["local a\n", "local b\n"]);
}

#[test]
fn pipelined_mixed_requests_with_bodies_are_answered_in_order() {
    let (_edge, addr, origin) = setup();
    let requests = [
        post("/p/upload", "hello"),
        get("/local/b"),
        get("/p/after"),
        get("/local/a"),
    ];
    let bodies = pipeline(addr, &requests).unwrap();
    let port = origin.addr.port();
    assert_eq!(
        bodies,
        [
            format!("origin {port} /p/upload\n"),
            "local b\n".to_string(),
            format!("origin {port} /p/after\n"),
            "local a\n".to_string(),
        ]
    );
    let seen = origin.seen();
    assert_eq!(seen[0].body, b"hello");
}
