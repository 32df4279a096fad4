//! Route plugins cannot be bypassed by how a request is written (issue 11, items 2 and 3).
//!
//! A `key-auth` route on `/auth/` (and one for the host `admin.test`) sits before a
//! catch-all route. Every spelling of the protected path must reach the key check (401) or
//! be refused (400, or Pingora's 405 for CONNECT) — never the backend without a key. The
//! spellings that legitimately reach the catch-all are listed with the exact target the
//! backend receives, so what "not the protected path" means is visible. Host rules follow
//! RFC 9112 §3.2.

use std::net::SocketAddr;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::raw_request;

/// What must happen to a request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Expect {
    /// The key-auth route answered 401 (the backend saw nothing).
    KeyCheck,
    /// Refused with this status before any route (the backend saw nothing).
    Refused(u16),
    /// The catch-all proxied it and the backend received exactly this target.
    Backend(&'static str),
}

use Expect::{Backend, KeyCheck, Refused};

/// Request-targets for `GET <target> HTTP/1.1` with `Host: t`.
const TARGETS: &[(&str, Expect)] = &[
    ("/auth/secret", KeyCheck),
    // Percent-encoding is decoded before matching (nginx), `%2F` included.
    ("/%61uth/secret", KeyCheck),
    ("/%61%75%74%68/secret", KeyCheck),
    ("/auth%2Fsecret", KeyCheck),
    ("/x%2F..%2Fauth%2Fsecret", KeyCheck),
    // Duplicate slashes are merged (nginx `merge_slashes on`).
    ("//auth/secret", KeyCheck),
    ("///auth//secret", KeyCheck),
    // Dot-segments are resolved, plain or encoded.
    ("/x/../auth/secret", KeyCheck),
    ("/x/y/../../auth/secret", KeyCheck),
    ("/./auth/./secret", KeyCheck),
    ("/x/%2e%2e/auth/secret", KeyCheck),
    ("/x/%2E%2E/auth/secret", KeyCheck),
    ("/x/.%2e/auth/secret", KeyCheck),
    ("/auth/secret/x/..", KeyCheck),
    // Query and fragment do not change the path.
    ("/auth/secret?x=/../public", KeyCheck),
    ("/auth/secret#frag", KeyCheck),
    // A rewritten path is matched normalized too.
    ("/r/secret", KeyCheck),
    // Absolute-form: its host and normalized path are matched.
    ("http://t/auth/secret", KeyCheck),
    ("HTTP://t/x/../auth/secret", KeyCheck),
    ("http://t//auth/secret", KeyCheck),
    // `..` above the root (nginx: 400).
    ("/..", Refused(400)),
    ("/../auth/secret", Refused(400)),
    ("/x/../../auth/secret", Refused(400)),
    ("/%2e%2e/auth/secret", Refused(400)),
    // Broken escapes and NUL (nginx: 400).
    ("/auth/secret%00", Refused(400)),
    ("/a%zz", Refused(400)),
    ("/auth/%", Refused(400)),
    ("/auth/%4", Refused(400)),
    // Backslashes and path parameters: upstreams differ on them, so refused.
    ("/x\\..\\auth\\secret", Refused(400)),
    ("/x%5C..%5Cauth%5Csecret", Refused(400)),
    ("/x/..;/auth/secret", Refused(400)),
    ("/auth;x=1/secret", Refused(400)),
    ("/auth/secret;jsessionid=1", Refused(400)),
    // Decoded bytes must be UTF-8 (overlong `.` included).
    ("/x/%c0%ae%c0%ae/auth/secret", Refused(400)),
    ("/x/%ff/auth/secret", Refused(400)),
    // Neither origin-form nor absolute http(s).
    ("auth/secret", Refused(400)),
    (" /auth/secret", Refused(400)), // two spaces after the method
    ("*", Refused(400)),
    ("t:80", Refused(400)),
    ("ftp://t/auth/secret", Refused(400)),
    ("http:/auth/secret", Refused(400)),
    ("http:///auth/secret", Refused(400)),
    ("http://u@t/auth/secret", Refused(400)),
    // Absolute-form host other than Host: Pingora refuses it (nginx would route by the
    // absolute-form host, which here is the same protected route anyway).
    ("http://admin.test/x", Refused(400)),
    // What the catch-all gets, exactly: normalized and re-encoded, query as sent.
    ("/public//x/./y", Backend("/public/x/y")),
    (
        "/public/a%20b?q=%20&r=/../x",
        Backend("/public/a%20b?q=%20&r=/../x"),
    ),
    ("/public/%3F%23%25%3B", Backend("/public/%3F%23%25%3B")),
    ("/public/caf%c3%a9", Backend("/public/caf%C3%A9")),
    ("/x#/../auth/secret", Backend("/x")),
    // Decoded once, as nginx: `%252e` is the text `%2e`, not a dot.
    (
        "/x/%252e%252e/auth/secret",
        Backend("/x/%252e%252e/auth/secret"),
    ),
    // Paths are case-sensitive, as in nginx (use `(?i)` in a path_regex otherwise).
    ("/AUTH/secret", Backend("/AUTH/secret")),
    ("/%41uth/secret", Backend("/Auth/secret")),
];

/// Whole requests: Host rules (RFC 9112 §3.2) and methods.
const REQUESTS: &[(&str, &str, Expect)] = &[
    ("HTTP/1.1 without Host", "GET /x HTTP/1.1\r\n", Refused(400)),
    ("empty Host", "GET /x HTTP/1.1\r\nHost: \r\n", Refused(400)),
    (
        "Host with a space",
        "GET /x HTTP/1.1\r\nHost: a b\r\n",
        Refused(400),
    ),
    (
        "two Hosts",
        "GET /x HTTP/1.1\r\nHost: t\r\nHost: t\r\n",
        Refused(400),
    ),
    (
        "Host with a path",
        "GET /x HTTP/1.1\r\nHost: t/x\r\n",
        Refused(400),
    ),
    (
        "Host with ..",
        "GET /x HTTP/1.1\r\nHost: a..test\r\n",
        Refused(400),
    ),
    (
        "Host with a bad port",
        "GET /x HTTP/1.1\r\nHost: t:x\r\n",
        Refused(400),
    ),
    (
        "Host with userinfo",
        "GET /x HTTP/1.1\r\nHost: u@t\r\n",
        Refused(400),
    ),
    (
        "HTTP/1.0 Host invalid",
        "GET /x HTTP/1.0\r\nHost: a b\r\n",
        Refused(400),
    ),
    (
        "HTTP/1.0 without Host",
        "GET /x HTTP/1.0\r\n",
        Backend("/x"),
    ),
    (
        "host route",
        "GET /x HTTP/1.1\r\nHost: admin.test\r\n",
        KeyCheck,
    ),
    (
        "host case, port",
        "GET /x HTTP/1.1\r\nHost: ADMIN.Test:80\r\n",
        KeyCheck,
    ),
    (
        "host trailing dot",
        "GET /x HTTP/1.1\r\nHost: admin.test.\r\n",
        KeyCheck,
    ),
    (
        "HTTP/1.0 absolute-form",
        "GET http://admin.test/x HTTP/1.0\r\n",
        KeyCheck,
    ),
    (
        "OPTIONS *",
        "OPTIONS * HTTP/1.1\r\nHost: t\r\n",
        Refused(400),
    ),
    (
        "CONNECT",
        "CONNECT t:80 HTTP/1.1\r\nHost: t:80\r\n",
        Refused(405),
    ),
];

struct Setup {
    _edge: Edge,
    addr: SocketAddr,
    origin: Origin,
}

fn setup() -> Setup {
    let origin = Origin::start();
    let addr = ANY_PORT;
    let cfg = format!(
        r#"
[upstreams.backend]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = ["{addr}"]
# A rewrite whose result is not normalized: it is normalized again before routing.
plugins = [{{ name = "rewrite", config = {{ regex = "^/r/(.*)$", replacement = "/x/../auth/$1" }} }}]

[[servers.routes]]
hosts = ["admin.test"]
upstream = "backend"
plugins = [{{ name = "key-auth", config = {{ keys_env = "CONFORMANCE_KEYS" }} }}]

[[servers.routes]]
path_prefix = "/auth/"
upstream = "backend"
plugins = [{{ name = "key-auth", config = {{ keys_env = "CONFORMANCE_KEYS" }} }}]

[[servers.routes]]
upstream = "backend"
"#,
        origin = origin.addr
    );
    let edge = Edge::start_with(&cfg, &[("CONFORMANCE_KEYS", "k1")]);
    let addr = edge.addr();
    Setup {
        _edge: edge,
        addr,
        origin,
    }
}

fn status(resp: &str) -> Option<u16> {
    resp.strip_prefix("HTTP/1.1 ")?.get(..3)?.parse().ok()
}

/// Sends `head` (request line and headers, without the final CRLF) and checks `want`.
fn check(s: &Setup, what: &str, head: &str, want: Expect) -> Result<(), String> {
    let before = s.origin.hits();
    let resp = raw_request(
        s.addr,
        format!("{head}Connection: close\r\n\r\n").as_bytes(),
    );
    let got = status(&resp);
    let seen = s.origin.seen();
    let reached = seen.len() > before;
    let ok = match want {
        KeyCheck => got == Some(401) && !reached,
        Refused(code) => got == Some(code) && !reached,
        Backend(target) => {
            got == Some(200) && seen.len() == before + 1 && seen[before].target == target
        }
    };
    match ok {
        true => Ok(()),
        false => Err(format!(
            "{what}: want {want:?}, got {got:?}, backend saw {:?}",
            seen.get(before..)
                .map(|r| r.iter().map(|r| &r.target).collect::<Vec<_>>())
        )),
    }
}

#[test]
fn no_spelling_of_a_protected_path_reaches_the_backend_without_a_key() {
    let s = setup();
    let failures: Vec<String> = TARGETS
        .iter()
        .filter_map(|(target, want)| {
            let head = format!("GET {target} HTTP/1.1\r\nHost: t\r\n");
            check(&s, &format!("{target:?}"), &head, *want).err()
        })
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn host_rules_and_request_forms() {
    let s = setup();
    let failures: Vec<String> = REQUESTS
        .iter()
        .filter_map(|(what, head, want)| check(&s, what, head, *want).err())
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn raw_bytes_outside_ascii_are_decoded_like_escapes() {
    let s = setup();
    let before = s.origin.hits();
    let req = b"GET /public/caf\xc3\xa9 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let resp = raw_request(s.addr, req);
    assert_eq!(status(&resp), Some(200), "{resp}");
    assert_eq!(s.origin.seen()[before].target, "/public/caf%C3%A9");
    let bad =
        b"GET /x/\xc0\xae\xc0\xae/auth/secret HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    let resp = raw_request(s.addr, bad);
    assert_eq!(status(&resp), Some(400), "{resp}");
    assert_eq!(s.origin.hits(), before + 1);
}

#[test]
fn with_the_key_the_backend_gets_the_path_that_was_matched() {
    let s = setup();
    let resp = raw_request(
        s.addr,
        b"GET /x/..//%61uth/./secret?a=1 HTTP/1.1\r\nHost: t\r\nX-Api-Key: k1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&resp), Some(200), "{resp}");
    let seen = s.origin.seen();
    let last = seen.last().expect("backend reached");
    assert_eq!(last.target, "/auth/secret?a=1");
    assert_eq!(last.headers["host"], "t");
    // A rewrite's result is forwarded normalized, like the request's own path.
    let resp = raw_request(
        s.addr,
        b"GET /r/secret?b=2 HTTP/1.1\r\nHost: t\r\nX-Api-Key: k1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&resp), Some(200), "{resp}");
    let seen = s.origin.seen();
    assert_eq!(
        seen.last().map(|r| r.target.as_str()),
        Some("/auth/secret?b=2")
    );
    // Absolute-form: origin-form upstream, with its host as Host.
    let resp = raw_request(
        s.addr,
        b"GET http://admin.test/a/../b HTTP/1.1\r\nHost: admin.test\r\nX-Api-Key: k1\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status(&resp), Some(200), "{resp}");
    let seen = s.origin.seen();
    let last = seen.last().expect("backend reached");
    assert_eq!(
        (last.target.as_str(), last.headers["host"].as_str()),
        ("/b", "admin.test")
    );
}
