//! gRPC through the proxy to HTTP/2 upstreams (docs/grpc.md), with real grpcio servers and
//! clients: every call kind (unary, both streaming directions, bidi with 10,000 messages),
//! a ping-pong stream through `waf` (nothing held back), a 10 MB message, a deadline, an error status with trailing metadata — over h2c and over
//! h2 + TLS to the upstream; an h2-only group never falls back to HTTP/1.1.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::common::edge::{check_text, Edge};
use crate::common::grpc::{call, call_with, GrpcServer};

/// Every case of grpc_peer.py through `target` (in parallel), checked.
fn all_call_kinds(target: &str, tls: Option<(&Path, &str)>) {
    let cases = [
        "unary",
        "server_stream",
        "client_stream",
        "bidi",
        "pingpong",
        "big",
        "deadline",
        "error",
    ];
    let answers: Vec<(&str, Value)> = std::thread::scope(|s| {
        let running: Vec<_> = cases
            .iter()
            .map(|&case| s.spawn(move || (case, call_with(target, case, tls))))
            .collect();
        running.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let get = |case: &str| &answers.iter().find(|(c, _)| *c == case).unwrap().1;
    let unary = get("unary");
    assert_eq!(unary["code"], "OK", "{unary}");
    assert_eq!(unary["body"], "hello");
    assert_eq!(unary["headers"]["x-served-by"], "a", "{unary}");
    assert_eq!(
        unary["trailers"]["x-trailer"], "t1",
        "trailers pass: {unary}"
    );
    assert_eq!(get("server_stream")["count"], 1000);
    assert_eq!(get("server_stream")["last"], "item-999");
    assert_eq!(get("client_stream")["body"], "5000 247500");
    let bidi = get("bidi");
    assert_eq!(
        (&bidi["count"], &bidi["same"]),
        (&10_000.into(), &true.into())
    );
    let big = get("big");
    assert_eq!(
        (&big["len"], &big["same"]),
        (&10_485_760.into(), &true.into())
    );
    assert_eq!(get("pingpong")["count"], 100, "a stream is never held back");
    assert_eq!(get("deadline")["code"], "DEADLINE_EXCEEDED");
    let error = get("error");
    assert_eq!(error["code"], "FAILED_PRECONDITION", "{error}");
    assert_eq!(error["details"], "precondition failed: 42");
    assert_eq!(error["trailers"]["x-reason"], "because", "{error}");
    assert_eq!(error["trailers"]["x-detail-bin"], "0001fe", "{error}");
}

/// A block listening for h2c on any port, one route to group `grpc` (`group` is its body)
/// with `waf` on it (its request-body inspection must leave gRPC streams alone).
fn h2c_edge(group: &str) -> Edge {
    Edge::start(&format!(
        r#"
[upstreams.grpc]
{group}
[[servers]]
listen = [{{ addr = "127.0.0.1:0", http2 = true }}]
[[servers.routes]]
path_prefix = "/test.Echo/"
upstream = "grpc"
max_body_bytes = "64MiB"
plugins = [{{ name = "waf" }}]
"#
    ))
}

#[test]
fn grpc_over_h2c_every_call_kind() {
    let server = GrpcServer::start("a");
    let edge = h2c_edge(&format!(
        "servers = [{{ addr = \"{}\" }}]\nprotocol = \"h2c\"",
        server.addr()
    ));
    all_call_kinds(&edge.addr().to_string(), None);
}

#[test]
fn grpc_over_tls_both_sides_every_call_kind() {
    let dir = tempfile::tempdir().expect("tempdir");
    crate::common::certs::write_pair(dir.path(), "up", &["grpc.test"], 30);
    crate::common::certs::write_pair(dir.path(), "edge", &["edge.test"], 30);
    let (cert, key) = (dir.path().join("up.crt"), dir.path().join("up.key"));
    let server = GrpcServer::start_with("a", Some((&cert, &key)));
    let cfg = format!(
        r#"
[upstreams.grpc]
servers = [{{ addr = "{}" }}]
protocol = "h2"
tls = {{ sni = "grpc.test", ca_file = "up.crt" }}
h2_max_streams = 50
h2_ping_interval = "10s"
[[servers]]
listen = [{{ addr = "127.0.0.1:0", tls = {{ certificates = [{{ cert = "edge.crt", key = "edge.key" }}] }} }}]
[[servers.routes]]
path_prefix = "/test.Echo/"
upstream = "grpc"
max_body_bytes = "64MiB"
"#,
        server.addr()
    );
    let edge_ca = dir.path().join("edge.crt");
    let edge = Edge::start_in(dir, "edgeproxy", &cfg);
    all_call_kinds(&edge.addr().to_string(), Some((&edge_ca, "edge.test")));
}

#[test]
fn an_h2_group_never_falls_back_to_http1_and_auto_does() {
    // The upstream: an edgeproxy answering itself over TLS with ALPN http/1.1 only.
    let dir = tempfile::tempdir().expect("tempdir");
    crate::common::certs::write_pair(dir.path(), "o", &["origin.test"], 30);
    let ca = dir.path().join("o.crt").display().to_string();
    let origin = Edge::start_in(
        dir,
        "edgeproxy",
        r#"
[[servers]]
listen = [{ addr = "127.0.0.1:0", http2 = false, tls = { certificates = [{ cert = "o.crt", key = "o.key" }] } }]
[[servers.routes]]
path_prefix = "/"
plugins = [{ name = "respond", config = { status = 200, body = "h1 origin\n" } }]
"#,
    );
    let group = |name: &str, protocol: &str| {
        format!(
            "[upstreams.{name}]\nservers = [{{ addr = \"{}\" }}]\nprotocol = \"{protocol}\"\nretries = 0\n\
             tls = {{ sni = \"origin.test\", ca_file = \"{ca}\" }}\n",
            origin.addr()
        )
    };
    let route = |name: &str| {
        format!("[[servers.routes]]\npath_prefix = \"/{name}\"\nupstream = \"{name}\"\n")
    };
    let cfg = format!(
        "{}{}[[servers]]\nlisten = [\"127.0.0.1:0\"]\n{}{}",
        group("strict", "h2"),
        group("auto", "auto"),
        route("strict"),
        route("auto")
    );
    let edge = Edge::start(&cfg);
    let c = crate::common::client();
    let get = |path: &str| {
        let r = c
            .get(format!("http://{}/{path}", edge.addr()))
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    assert_eq!(get("auto"), (200, "h1 origin\n".to_string()));
    let (status, _) = get("strict");
    assert_eq!(status, 502, "{}", edge.stderr());
    // Logged once the answer is out.
    crate::common::wait_until("the reason logged", Duration::from_secs(10), || {
        edge.stderr().contains("did not agree to HTTP/2")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
}

#[test]
fn check_refuses_protocols_that_cannot_work() {
    let out = check_text(
        r#"
[upstreams.a]
servers = [{ addr = "127.0.0.1:1" }]
protocol = "h2"
[upstreams.b]
servers = [{ addr = "127.0.0.1:1" }]
protocol = "h2c"
tls = true
[upstreams.c]
servers = [{ addr = "127.0.0.1:1" }]
h2_max_streams = 10
[upstreams.d]
servers = [{ addr = "127.0.0.1:1" }]
protocol = "h2c"
health_check = { kind = "http", path = "/health" }
[upstreams.e]
servers = [{ addr = "127.0.0.1:1" }]
protocol = "http2"
"#,
    );
    out.assert_errors(&[
        (4, "protocol = \"h2\" needs `tls`"),
        (7, "protocol = \"h2c\" is HTTP/2 without TLS"),
        (11, "`h2_max_streams` only applies to HTTP/2 groups"),
        (15, "an http health check speaks HTTP/1"),
        (18, "unknown protocol `http2`"),
    ]);
}

#[test]
fn h2_groups_hash_keys_to_one_member_and_fail_over_when_it_dies() {
    let mut servers = [GrpcServer::start("a"), GrpcServer::start("b")];
    let edge = h2c_edge(&format!(
        "servers = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\nprotocol = \"h2c\"\n\
         balance = \"hash\"\nhash_key = \"$http_x_user\"\nretries = 1\n\
         health_check = {{ kind = \"tcp\", interval = \"100ms\" }}",
        servers[0].addr(),
        servers[1].addr()
    ));
    let target = edge.addr().to_string();
    let served_by = |user: &str| {
        let md = format!("x-user={user}");
        let r = call(&target, "unary", "grpc", &[&md]);
        assert_eq!(r["code"], "OK", "{r}");
        r["headers"]["x-served-by"].as_str().unwrap().to_string()
    };
    let first = served_by("u1");
    for _ in 0..3 {
        assert_eq!(served_by("u1"), first, "one key, one member");
    }
    let (dead, alive) = match first.as_str() {
        "a" => (0, "b"),
        _ => (1, "a"),
    };
    servers[dead].kill();
    // Its pooled h2 connection dies with it: the next calls go to the other member.
    for _ in 0..3 {
        assert_eq!(served_by("u1"), alive);
    }
}
