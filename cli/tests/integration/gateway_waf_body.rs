//! `waf` request-body inspection through the real binary: attacks in form, JSON and
//! chunked bodies get 403 and never reach the origin; benign bodies (short, long, chunked)
//! arrive intact under the `partial` opt-out; `reject` (the default, see
//! `gateway_waf_strict.rs`) refuses what it cannot inspect whole.

use std::net::SocketAddr;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::{client, raw_request};

fn config(listen: SocketAddr, origin: SocketAddr) -> String {
    format!(
        r#"
[upstreams.app]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = ["{listen}"]

[[servers.routes]]
path_prefix = "/strict"
upstream = "app"
plugins = [{{ name = "waf", config = {{ body_bytes = 1024 }} }}]

[[servers.routes]]
path_prefix = "/"
upstream = "app"
max_body_bytes = "1m"
plugins = [{{ name = "waf", config = {{ body_limit_action = "partial" }} }}]
"#
    )
}

struct Setup {
    listen: SocketAddr,
    origin: Origin,
    edge: crate::common::edge::Edge,
}

fn setup() -> Setup {
    let origin = Origin::start();
    let edge = Edge::start(&config(ANY_PORT, origin.addr));
    let listen = edge.addr();
    Setup {
        listen,
        origin,
        edge,
    }
}

fn post(s: &Setup, path: &str, content_type: &str, body: Vec<u8>) -> u16 {
    client()
        .post(format!("http://{}{path}", s.listen))
        .header("content-type", content_type)
        .body(body)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

/// A chunked POST sent raw, the body split into `chunks`; returns the status line.
fn post_chunked(s: &Setup, path: &str, chunks: &[&[u8]]) -> String {
    let mut req = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    .into_bytes();
    for c in chunks {
        req.extend_from_slice(format!("{:x}\r\n", c.len()).as_bytes());
        req.extend_from_slice(c);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"0\r\n\r\n");
    let resp = raw_request(s.listen, &req);
    resp.lines().next().unwrap_or("").to_string()
}

const FORM: &str = "application/x-www-form-urlencoded";

#[test]
fn attacks_in_bodies_are_refused_before_the_origin_sees_them() {
    let s = setup();
    let attacks: [(&str, &[u8]); 4] = [
        (
            FORM,
            b"user=bob&q=1+UNION%2F**%2FSELECT+password+from+users",
        ),
        (FORM, b"q=1%27+or+%271%27%3D%271"),
        (
            "application/json",
            br#"{"comment":"\u003cscript\u003ealert(1)"}"#,
        ),
        ("text/plain", b"hello <script>alert(1)</script>"),
    ];
    for (ct, body) in attacks {
        assert_eq!(post(&s, "/form", ct, body.to_vec()), 403, "{ct}");
    }
    // The attack 1000 bytes into a 200 KiB body: inside what is inspected.
    let mut big = b"pad=".to_vec();
    big.extend(std::iter::repeat_n(b'a', 1000));
    big.extend_from_slice(b"&q=1+union+select+1&more=");
    big.extend(std::iter::repeat_n(b'b', 200 * 1024));
    assert_eq!(post(&s, "/form", FORM, big), 403);
    let chunked = post_chunked(&s, "/form", &[b"q=1+uni", b"on+sel", b"ect+1"]);
    assert!(chunked.contains(" 403 "), "{chunked}");
    assert_eq!(s.origin.hits(), 0, "no attack reached the origin");
    let log = s.edge.stderr();
    assert!(log.contains("waf: rule matched"), "{log}");
    assert!(!log.contains("ERROR"), "a refusal is not an error:\n{log}");
}

#[test]
fn benign_bodies_arrive_intact() {
    let s = setup();
    let form = b"q=select+your+size&note=this+or+that".to_vec();
    assert_eq!(post(&s, "/a", FORM, form.clone()), 200);
    let json = br#"{"q":"union station select seats","n":1}"#.to_vec();
    assert_eq!(post(&s, "/b", "application/json", json.clone()), 200);
    // Longer than what is inspected (and than one read): the rest streams as usual.
    let big: Vec<u8> = (0..300 * 1024).map(|i| b'a' + (i % 26) as u8).collect();
    assert_eq!(post(&s, "/c", FORM, big.clone()), 200);
    let status = post_chunked(&s, "/d", &[b"q=rock+", b"n+roll", &big[..70 * 1024]]);
    assert!(status.contains(" 200 "), "{status}");

    let seen = s.origin.seen();
    let body = |path: &str| {
        seen.iter()
            .find(|r| r.path() == path)
            .map(|r| r.body.clone())
            .unwrap_or_else(|| panic!("{path} not proxied"))
    };
    assert_eq!(body("/a"), form);
    assert_eq!(body("/b"), json);
    assert_eq!(body("/c"), big, "300 KiB body intact");
    let mut chunked = b"q=rock+n+roll".to_vec();
    chunked.extend_from_slice(&big[..70 * 1024]);
    assert_eq!(body("/d"), chunked, "chunked body intact");
}

#[test]
fn reject_refuses_bodies_longer_than_inspected() {
    let s = setup();
    assert_eq!(post(&s, "/strict", FORM, b"q=fine".to_vec()), 200);
    assert_eq!(post(&s, "/strict", FORM, vec![b'a'; 2048]), 413);
    let chunked = post_chunked(&s, "/strict", &[&[b'a'; 600], &[b'b'; 600]]);
    assert!(chunked.contains(" 413 "), "{chunked}");
    assert_eq!(s.origin.hits(), 1);
}

#[test]
fn json_bodies_cannot_be_told_a_weaker_story() {
    let s = setup();
    let xss = r#"\u003cscript\u003ealert(1)"#;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        // A UTF-8 BOM, a trailing comma, other JSON media types.
        (
            "application/json",
            format!("\u{feff}{{\"c\":\"{xss}\"}}").into_bytes(),
        ),
        (
            "application/json",
            format!(r#"{{"c":"{xss}",}}"#).into_bytes(),
        ),
        ("text/json", format!(r#"{{"c":"{xss}"}}"#).into_bytes()),
        (
            "application/problem+json",
            format!(r#"{{"c":"{xss}"}}"#).into_bytes(),
        ),
        // Duplicate keys: the first occurrence is an attack, the last is benign.
        (
            "application/json",
            format!(r#"{{"c":"{xss}","c":"fine"}}"#).into_bytes(),
        ),
    ];
    for (ct, body) in cases {
        let shown = String::from_utf8_lossy(&body[..body.len().min(60)]).into_owned();
        assert_eq!(post(&s, "/json", ct, body), 403, "{ct} {shown}");
    }
    // Two Content-Type fields: the body is read as each of them.
    let body = format!(r#"{{"c":"{xss}"}}"#);
    let two = format!(
        "POST /json HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let resp = raw_request(s.listen, two.as_bytes());
    assert!(resp.starts_with("HTTP/1.1 403"), "{resp}");
    assert_eq!(s.origin.hits(), 0, "no attack reached the origin");
    // Benign look-alikes still pass, a trailing comma and all.
    let benign = br#"{"name":"O'Brien","note":"select a shop, 1 or 2 items",}"#.to_vec();
    assert_eq!(post(&s, "/json", "application/json", benign), 200);
}
