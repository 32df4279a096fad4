//! Protocol details an HTTP/2 or TLS client checks: SNI is acknowledged in the ServerHello
//! (TLS 1.2) / EncryptedExtensions (TLS 1.3), RFC 6066 §3, as nginx does — seen with
//! `openssl s_client -tlsextdebug`; on a plain `http2` listener, an invalid connection
//! preface gets an HTTP/2 GOAWAY (PROTOCOL_ERROR), not an HTTP/1.1 400, while HTTP/1
//! requests and prior-knowledge HTTP/2 still work there.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::certs::write_pair;
use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;

struct Env {
    tls: SocketAddr,
    h2c: SocketAddr,
    origin: Origin,
    _edge: Edge,
}

fn setup() -> Env {
    let origin = Origin::start();
    let (tls, h2c) = (ANY_PORT, ANY_PORT);
    let dir = tempfile::tempdir().unwrap();
    write_pair(dir.path(), "default", &["default.test"], 30);
    write_pair(dir.path(), "shop", &["shop.example.com"], 30);
    let config = format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = [
  {{ addr = "{tls}", tls = {{ certificates = [
      {{ cert = "default.crt", key = "default.key" }},
      {{ cert = "shop.crt", key = "shop.key" }} ] }} }},
  {{ addr = "{h2c}", http2 = true }},
]
[[servers.routes]]
path_prefix = "/"
upstream = "origin"
"#,
        origin = origin.addr
    );
    let edge = Edge::start_in(dir, "edgeproxy", &config);
    let [tls, h2c] = edge.listening();
    Env {
        tls,
        h2c,
        origin,
        _edge: edge,
    }
}

/// `openssl s_client -tlsextdebug` output for one handshake.
fn s_client(addr: SocketAddr, version: &str, sni: Option<&str>) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args([
        "s_client",
        "-tlsextdebug",
        version,
        "-connect",
        &addr.to_string(),
    ]);
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd.stdin(Stdio::null()).output().expect("openssl s_client");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

const ACK: &str = "TLS server extension \"server name\" (id=0), len=0";

#[test]
fn sni_is_acknowledged_in_tls12_and_tls13() {
    let env = setup();
    for version in ["-tls1_2", "-tls1_3"] {
        for name in ["shop.example.com", "unknown.test"] {
            let out = s_client(env.tls, version, Some(name));
            assert!(out.contains("CONNECTED"), "{version} {name}: {out}");
            assert!(out.contains(ACK), "{version} {name}: no SNI ack:\n{out}");
        }
        // The certificate is still chosen by the name.
        let out = s_client(env.tls, version, Some("shop.example.com"));
        assert!(out.contains("subject=CN = shop.example.com"), "{out}");
        // Without SNI there is nothing to acknowledge.
        let out = s_client(env.tls, version, None);
        assert!(out.contains("subject=CN = default.test"), "{out}");
        assert!(!out.contains(ACK), "{version}: ack without SNI:\n{out}");
    }
}

/// Sends `bytes` on a new h2c connection and reads until the server closes.
fn send(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(bytes).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// The HTTP/2 frames in `bytes`: (type, payload).
fn frames(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while bytes.len() >= 9 {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        let end = (9 + len).min(bytes.len());
        out.push((bytes[3], bytes[9..end].to_vec()));
        bytes = &bytes[end..];
    }
    out
}

#[test]
fn an_invalid_h2c_preface_gets_a_goaway() {
    let env = setup();
    for bad in [
        &b"INVALID CONNECTION PREFACE\r\n\r\n"[..],
        b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n",
        b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03 a TLS ClientHello",
    ] {
        let got = send(env.h2c, bad);
        let what = bad.escape_ascii().to_string();
        assert!(
            !got.starts_with(b"HTTP/1"),
            "{what}: {}",
            got.escape_ascii()
        );
        let frames = frames(&got);
        assert_eq!(
            frames.first().map(|f| f.0),
            Some(0x4),
            "{what}: SETTINGS first"
        );
        let goaway = frames.iter().find(|f| f.0 == 0x7);
        let payload = goaway.map(|f| f.1.as_slice()).unwrap_or_default();
        assert!(
            payload.len() >= 8,
            "{what}: no GOAWAY in {}",
            got.escape_ascii()
        );
        assert_eq!(&payload[4..8], &[0, 0, 0, 1], "{what}: not PROTOCOL_ERROR");
    }
    // The same listener still serves HTTP/1 (the shortest requests are not waited on) and
    // prior-knowledge HTTP/2.
    let got = send(env.h2c, b"GET /one HTTP/1.0\r\n\r\n");
    assert!(got.starts_with(b"HTTP/1.1 200"), "{}", got.escape_ascii());
    let got = send(
        env.h2c,
        b"\r\nGET http://x/two HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(got.starts_with(b"HTTP/1.1 200"), "{}", got.escape_ascii());
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
        ])
        .args([
            "--http2-prior-knowledge",
            &format!("http://{}/three", env.h2c),
        ])
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
    let out = Command::new("nghttp")
        .args(["-n", "-s", &format!("http://{}/four", env.h2c)])
        .output()
        .expect("nghttp (Debian package nghttp2-client)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for path in ["/one", "/two", "/three", "/four"] {
        assert_eq!(env.origin.hits_for(path), 1, "{path}");
    }
}
