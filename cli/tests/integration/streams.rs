//! TCP stream proxying (`[[streams]]`, docs/streams.md) with real peers: a TCP echo (plain
//! and behind a TLS-terminating listener) and a real redis-server (`redis-benchmark`
//! through the proxy), SNI routing to two TLS
//! backends without terminating, the PROXY protocol (v1 and v2) as the backend reads it,
//! and a member killed under load; byte counters in metrics.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

use crate::common::edge::Edge;
use crate::common::redis::RedisServer;
use crate::common::scrape::metric;
use crate::common::tcp::TcpPeer;

fn echo(b: &[u8]) -> Vec<u8> {
    b.to_vec()
}

/// Sends `msg` on a new connection to `addr`; what comes back (as much as `msg`).
fn try_round_trip(addr: SocketAddr, msg: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut c = TcpStream::connect(addr)?;
    c.set_read_timeout(Some(Duration::from_secs(10)))?;
    c.write_all(msg)?;
    let mut got = vec![0u8; msg.len()];
    c.read_exact(&mut got)?;
    Ok(got)
}

fn round_trip(addr: SocketAddr, msg: &[u8]) -> Vec<u8> {
    try_round_trip(addr, msg).expect("a round trip")
}

const ADMIN: &str = r#"
[[servers]]
name = "admin"
listen = ["127.0.0.1:0"]
[[servers.routes]]
path = "/metrics"
plugins = [{ name = "metrics" }]
"#;

#[test]
fn tcp_echo_and_a_real_redis_through_stream_listeners() {
    let echo_peer = TcpPeer::start(echo);
    let redis = RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    crate::common::certs::write_pair(dir.path(), "s", &["echo.test"], 30);
    let edge = Edge::start(&format!(
        r#"
[upstreams.echo]
servers = [{{ addr = "{}" }}]
[upstreams.redis]
servers = [{{ addr = "127.0.0.1:{}" }}]
{ADMIN}
[[streams]]
name = "echo"
listen = ["127.0.0.1:0"]
upstream = "echo"
[[streams]]
name = "redis"
listen = ["127.0.0.1:0"]
upstream = "redis"
idle_timeout = "30s"
[[streams]]
name = "tls"
listen = [{{ addr = "127.0.0.1:0", tls = {{ certificates = [{{ cert = "{d}/s.crt", key = "{d}/s.key" }}] }} }}]
upstream = "echo"
"#,
        echo_peer.addr,
        redis.node.port,
        d = dir.path().display()
    ));
    let [admin, echo_at, redis_at, tls_at] = edge.listening();
    assert_eq!(round_trip(echo_at, b"hello stream\n"), b"hello stream\n");
    // TLS terminated at the stream listener, plain bytes to the echo.
    let mut ssl = openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).unwrap();
    ssl.set_ca_file(dir.path().join("s.crt")).unwrap();
    let tcp = TcpStream::connect(tls_at).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut tls = ssl
        .build()
        .connect("echo.test", tcp)
        .expect("TLS handshake");
    tls.write_all(b"over tls").unwrap();
    let mut got = [0u8; 8];
    tls.read_exact(&mut got).unwrap();
    assert_eq!(&got, b"over tls");
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &redis_at.port().to_string()])
        .args(["-n", "2000", "-c", "10", "-t", "set,get", "-q"])
        .output()
        .expect("redis-benchmark");
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("SET:") && text.contains("GET:"), "{text}");
    assert!(!text.to_lowercase().contains("error"), "{text}");
    let bytes = |dir: &str| {
        let s = format!("edgeproxy_stream_bytes_total{{direction=\"{dir}\",stream=\"echo\"}}");
        metric(admin, &s)
    };
    crate::common::wait_until("the echo's bytes counted", Duration::from_secs(10), || {
        bytes("sent") == Some(13.0) && bytes("received") == Some(13.0)
    })
    .unwrap_or_else(|e| panic!("{e}: {:?} {:?}", bytes("sent"), bytes("received")));
}

#[test]
fn sni_routes_reach_two_tls_backends_without_terminating() {
    let dir = tempfile::tempdir().unwrap();
    let mut origins = Vec::new();
    for name in ["a", "b"] {
        crate::common::certs::write_pair(dir.path(), name, &[&format!("{name}.test")], 30);
        origins.push(Edge::start(&format!(
            r#"
[[servers]]
listen = [{{ addr = "127.0.0.1:0", tls = {{ certificates = [{{ cert = "{d}/{name}.crt", key = "{d}/{name}.key" }}] }} }}]
[[servers.routes]]
path_prefix = "/"
plugins = [{{ name = "respond", config = {{ status = 200, body = "backend {name}\n" }} }}]
"#,
            d = dir.path().display()
        )));
    }
    let edge = Edge::start(&format!(
        r#"
[upstreams.a]
servers = [{{ addr = "{}" }}]
[upstreams.b]
servers = [{{ addr = "{}" }}]
[[streams]]
listen = ["127.0.0.1:0"]
sni_routes = [{{ sni = "a.test", upstream = "a" }}, {{ sni = "*.b.test", upstream = "b" }}]
upstream = "b"
"#,
        origins[0].addr(),
        origins[1].addr()
    ));
    let port = edge.addr().port();
    let get = |host: &str, ca: &str| {
        let out = Command::new("curl")
            .args(["-s", "--max-time", "10", "--resolve"])
            .arg(format!("{host}:{port}:127.0.0.1"))
            .arg("--cacert")
            .arg(dir.path().join(format!("{ca}.crt")))
            .arg(format!("https://{host}:{port}/"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // curl verifies each backend's own certificate: the TLS went through untouched.
    assert_eq!(get("a.test", "a"), "backend a\n");
    assert_eq!(
        get("www.b.test", "b"),
        "",
        "b's certificate names only b.test"
    );
    let out = Command::new("curl")
        .args(["-s", "-k", "--max-time", "10", "--resolve"])
        .arg(format!("x.b.test:{port}:127.0.0.1"))
        .arg(format!("https://x.b.test:{port}/"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "backend b\n");
}

#[test]
fn proxy_protocol_v1_and_v2_reach_the_backend() {
    // Answers once the client's bytes have come (the header may come in a read of its own).
    let peer = TcpPeer::start(|b| match b.ends_with(b"ping") {
        true => b"ok".to_vec(),
        false => Vec::new(),
    });
    let edge = Edge::start(&format!(
        r#"
[upstreams.p]
servers = [{{ addr = "{}" }}]
[[streams]]
name = "v1"
listen = ["127.0.0.1:0"]
upstream = "p"
proxy_protocol = "v1"
[[streams]]
name = "v2"
listen = ["127.0.0.1:0"]
upstream = "p"
proxy_protocol = "v2"
"#,
        peer.addr
    ));
    let [v1, v2] = edge.listening();
    for (at, want) in [
        (v1, &b"PROXY TCP4 127.0.0.1 127.0.0.1 "[..]),
        (v2, &b"\r\n\r\n\0\r\nQUIT\n\x21\x11"[..]),
    ] {
        let mut c = TcpStream::connect(at).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        c.write_all(b"ping").unwrap();
        let mut got = [0u8; 2];
        c.read_exact(&mut got).unwrap();
        let seen = std::mem::take(&mut *peer.seen.lock().unwrap()).concat();
        assert!(
            seen.starts_with(want),
            "{:?}",
            String::from_utf8_lossy(&seen)
        );
        assert!(seen.ends_with(b"ping"));
    }
}

#[test]
fn a_member_killed_under_load_moves_new_connections_to_the_others() {
    let peers = [TcpPeer::start(echo), TcpPeer::start(echo)];
    let edge = Edge::start(&format!(
        r#"
[upstreams.e]
servers = [{{ addr = "{}" }}, {{ addr = "{}" }}]
retries = 1
[[streams]]
listen = ["127.0.0.1:0"]
upstream = "e"
"#,
        peers[0].addr, peers[1].addr
    ));
    let at = edge.addr();
    // Four clients, one connection per message; the failures counted.
    let clients: Vec<_> = (0..4)
        .map(|i| {
            std::thread::spawn(move || {
                (0..150)
                    .filter(|n| {
                        let msg = format!("client {i} message {n}\n");
                        try_round_trip(at, msg.as_bytes()).ok().as_deref() != Some(msg.as_bytes())
                    })
                    .count()
            })
        })
        .collect();
    crate::common::wait_until("load on the first member", Duration::from_secs(10), || {
        peers[0].seen.lock().unwrap().len() >= 20
    })
    .unwrap();
    peers[0].kill();
    let failed: usize = clients.into_iter().map(|c| c.join().unwrap()).sum();
    // Only connections the dying member had already taken can fail (one per client at most).
    assert!(failed <= 4, "{failed} of 600 connections failed");
    let before = peers[1].seen.lock().unwrap().len();
    for n in 0..20 {
        assert_eq!(
            round_trip(at, format!("after {n}").as_bytes()),
            format!("after {n}").as_bytes()
        );
    }
    assert_eq!(
        peers[1].seen.lock().unwrap().len(),
        before + 20,
        "all on the live member"
    );
}

#[test]
fn check_refuses_stream_blocks_that_cannot_work() {
    let out = crate::common::edge::check_text(
        r#"
[upstreams.a]
servers = [{ addr = "127.0.0.1:1" }]
[[streams]]
listen = ["127.0.0.1:0"]
upstream = "b"
[[streams]]
listen = [{ addr = "127.0.0.1:0", proxy_protocol = true }]
upstream = "a"
hash = "port"
[[streams]]
listen = [{ addr = "127.0.0.1:0", tls = { certificates = [{ cert = "x.crt", key = "x.key" }] } }]
sni_routes = [{ sni = "a.test", upstream = "a" }]
"#,
    );
    out.assert_errors(&[
        (6, "undefined upstream `b`"),
        (8, "cannot require a PROXY header"),
        (10, "unknown hash `port`"),
        (13, "reading the SNI needs plain listeners"),
    ]);
}

#[test]
fn a_reload_in_place_moves_new_connections_and_keeps_open_ones() {
    let a = TcpPeer::start(|b| [&b"a:"[..], b].concat());
    let b = TcpPeer::start(|b| [&b"b:"[..], b].concat());
    let cfg = |up: &str| {
        format!(
            "[upstreams.a]\nservers = [{{ addr = \"{}\" }}]\n[upstreams.b]\nservers = [{{ addr = \"{}\" }}]\n\
             [[streams]]\nlisten = [\"127.0.0.1:0\"]\nupstream = \"{up}\"\n",
            a.addr, b.addr
        )
    };
    let edge = Edge::start_in(tempfile::tempdir().unwrap(), "edge", &cfg("a"));
    let at = edge.addr();
    let mut open = TcpStream::connect(at).unwrap();
    open.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // The answers are tagged with the member: two bytes longer than the message.
    let talk = |c: &mut TcpStream, msg: &[u8]| {
        c.write_all(msg).unwrap();
        let mut got = vec![0u8; msg.len() + 2];
        c.read_exact(&mut got).unwrap();
        got
    };
    let fresh = |msg: &[u8]| {
        let mut c = TcpStream::connect(at).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        talk(&mut c, msg)
    };
    assert_eq!(talk(&mut open, b"x"), b"a:x");
    assert_eq!(fresh(b"1"), b"a:1");
    let conf = edge.path("edge.toml");
    std::fs::write(&conf, cfg("b")).unwrap();
    let out = Command::new(crate::common::edge::binary())
        .args(["-s", "reload", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fresh(b"2"), b"b:2", "new connections: the new generation");
    assert_eq!(
        talk(&mut open, b"y"),
        b"a:y",
        "an open connection stays where it is"
    );
}
