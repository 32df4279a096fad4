//! Connection-level protocols through the real binary: the PROXY protocol (v1, v2, before
//! TLS, required where configured) and HTTP/2 abuse (rapid reset, CONTINUATION floods) —
//! the offending connection is closed, the process keeps serving everyone else.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::edge::Edge;
use crate::common::origin::Origin;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Sends `bytes` on a new connection to `to` and returns whatever comes back until close.
fn exchange(to: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(to).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(bytes).expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

const GET: &str = "GET /pp HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[test]
fn proxy_protocol_v1_v2_and_before_tls() {
    let origin = Origin::start();
    let (plain, tls, open, untrusted) = (0, 0, 0, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    crate::common::certs::write_pair(dir.path(), "pp", &["pp.test"], 30);
    let cfg = format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[[servers]]
client_header_timeout = "1s"
real_ip = {{ from = ["127.0.0.1/32"], header = "proxy_protocol" }}
listen = [
  {{ addr = "127.0.0.1:{plain}", proxy_protocol = true }},
  {{ addr = "127.0.0.1:{tls}", proxy_protocol = true, tls = {{ certificates = [{{ cert = "pp.crt", key = "pp.key" }}] }} }},
  "127.0.0.1:{open}",
]
[[servers.routes]]
path_prefix = "/"
upstream = "origin"

[[servers]]
real_ip = {{ from = ["10.0.0.0/8"], header = "proxy_protocol" }}
listen = [{{ addr = "127.0.0.1:{untrusted}", proxy_protocol = true }}]
[[servers.routes]]
path_prefix = "/"
upstream = "origin"
"#,
        origin = origin.addr
    );
    let edge = Edge::start_in(dir, "edgeproxy", &cfg);
    let [plain, tls, open, untrusted] = edge.listening::<4>().map(|a| a.port());
    let last_real_ip = || {
        let seen = origin.seen();
        let last = seen.last().expect("a request reached the origin");
        last.headers.get("x-real-ip").cloned().unwrap_or_default()
    };

    // v1
    let out = exchange(
        addr(plain),
        format!("PROXY TCP4 203.0.113.7 127.0.0.1 5555 {plain}\r\n{GET}").as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(last_real_ip(), "203.0.113.7");
    // v2, IPv6 source
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x21\x00\x24".to_vec();
    v2.extend_from_slice(&[
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x09,
    ]);
    v2.extend_from_slice(&[0; 15]);
    v2.push(1);
    v2.extend_from_slice(&[0x1f, 0x90, 0x00, 0x50]);
    v2.extend_from_slice(GET.as_bytes());
    let out = exchange(addr(plain), &v2);
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(last_real_ip(), "2001:db8::9");
    // Required: a request without the header is closed unanswered, as is garbage.
    let hits = origin.hits();
    assert_eq!(exchange(addr(plain), GET.as_bytes()), "");
    assert_eq!(exchange(addr(plain), b"PROXY TCP4 nonsense\r\n"), "");
    assert_eq!(exchange(addr(plain), &[b'P'; 300]), "");
    // ...and one that never completes it is cut at the header timeout.
    let started = Instant::now();
    assert_eq!(exchange(addr(plain), b"PROXY TCP4 1.2.3.4"), "");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert_eq!(
        origin.hits(),
        hits,
        "nothing without a valid header reached the origin"
    );
    // Before the TLS handshake.
    let mut s = TcpStream::connect(addr(tls)).expect("connect");
    s.write_all(b"PROXY TCP4 198.51.100.20 127.0.0.1 4444 443\r\n")
        .expect("write");
    let mut connector =
        openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).expect("connector");
    connector.set_verify(openssl::ssl::SslVerifyMode::NONE);
    let mut tls_stream = connector
        .build()
        .connect("pp.test", s)
        .expect("TLS after the PROXY header");
    tls_stream.write_all(GET.as_bytes()).expect("write");
    let mut buf = Vec::new();
    let _ = tls_stream.read_to_end(&mut buf);
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    assert_eq!(last_real_ip(), "198.51.100.20");
    // From a balancer outside `real_ip.from`, the header is read but its address ignored.
    let out = exchange(
        addr(untrusted),
        format!("PROXY TCP4 203.0.113.7 127.0.0.1 5555 80\r\n{GET}").as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert_eq!(last_real_ip(), "127.0.0.1");
    // A listener without `proxy_protocol` treats the header as a bad request line.
    let out = exchange(
        addr(open),
        format!("PROXY TCP4 203.0.113.7 127.0.0.1 1 2\r\n{GET}").as_bytes(),
    );
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
}

/// One HTTP/2 frame.
fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = payload.len() as u32;
    let mut f = vec![(len >> 16) as u8, (len >> 8) as u8, len as u8, kind, flags];
    f.extend_from_slice(&stream.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// `GET /` for `localhost` in HPACK (static-table indices, one literal).
const REQUEST_BLOCK: &[u8] = b"\x82\x84\x86\x41\x09localhost";

/// Starts an edge with an h2c listener in front of `origin`; returns it and the address.
fn h2c_edge(origin: &Origin) -> (Edge, SocketAddr) {
    let port = 0;
    let cfg = format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = [{{ addr = "127.0.0.1:{port}", http2 = true }}]
[[servers.routes]]
path_prefix = "/"
upstream = "origin"
"#,
        origin = origin.addr
    );
    let edge = Edge::start(&cfg);
    let addr = edge.addr();
    (edge, addr)
}

/// Writes `frames` after the preface until the server closes the connection or all were
/// written; returns how many bytes went out.
fn flood(to: SocketAddr, mut next: impl FnMut(usize) -> Option<Vec<u8>>) -> usize {
    let mut s = TcpStream::connect(to).expect("connect");
    s.set_write_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut reader = s.try_clone().expect("clone");
    // Drain what the server sends so it never blocks on us.
    let drain = std::thread::spawn(move || {
        let mut buf = [0u8; 16384];
        while matches!(reader.read(&mut buf), Ok(n) if n > 0) {}
    });
    let mut sent = 0;
    let mut first = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    first.extend(frame(4, 0, 0, &[]));
    if s.write_all(&first).is_err() {
        return 0;
    }
    let mut i = 0;
    while let Some(bytes) = next(i) {
        if s.write_all(&bytes).is_err() {
            break;
        }
        sent += bytes.len();
        i += 1;
    }
    let _ = s.shutdown(std::net::Shutdown::Write);
    let _ = drain.join();
    sent
}

/// A normal HTTP/2 request on its own connection succeeds.
fn healthy(to: SocketAddr) -> bool {
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(format!("http://{to}/ok"))
        .output()
        .expect("curl");
    out.stdout == b"200"
}

#[test]
fn rapid_reset_and_continuation_floods_close_the_connection_not_the_process() {
    let origin = Origin::start();
    let (edge, to) = h2c_edge(&origin);
    assert!(healthy(to));
    // Rapid reset: HEADERS then RST_STREAM(CANCEL), 20,000 times on one connection.
    let streams = 20_000;
    let sent = flood(to, |i| {
        (i < streams).then(|| {
            let id = 2 * i as u32 + 1;
            let mut f = frame(1, 0x5, id, REQUEST_BLOCK);
            f.extend(frame(3, 0, id, &8u32.to_be_bytes()));
            f
        })
    });
    eprintln!(
        "rapid reset: {sent} bytes written, {} requests reached the origin",
        origin.hits()
    );
    assert!(
        healthy(to),
        "another client during/after a rapid-reset flood"
    );
    assert!(
        origin.hits() < streams / 2,
        "{} of {streams} reset streams reached the origin ({sent} bytes sent)",
        origin.hits()
    );
    // CONTINUATION flood: one header block that never ends.
    let junk = {
        let mut b = Vec::new();
        while b.len() < 16_000 {
            b.extend_from_slice(b"\x40\x03x-a\x7f\x00"); // literal, 127-byte value follows
            b.extend(std::iter::repeat_n(b'a', 127));
        }
        b
    };
    let limit = 50 << 20;
    let sent = flood(to, |i| match i {
        0 => Some(frame(1, 0, 1, REQUEST_BLOCK)),
        _ if i * junk.len() < limit => Some(frame(9, 0, 1, &junk)),
        _ => None,
    });
    eprintln!("CONTINUATION flood: {sent} bytes written before the server closed");
    assert!(
        sent < limit,
        "the server read {sent} bytes of one header block"
    );
    assert!(healthy(to), "another client after a CONTINUATION flood");
    assert!(!edge.stderr().contains("panicked"), "{}", edge.stderr());
}

#[test]
fn a_silent_http2_client_is_cut_at_the_header_timeout() {
    let origin = Origin::start();
    let (h2c, tls) = (0, 0);
    let dir = tempfile::tempdir().expect("tempdir");
    crate::common::certs::write_pair(dir.path(), "h2", &["h2.test"], 30);
    let cfg = format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[[servers]]
client_header_timeout = "1s"
listen = [
  {{ addr = "127.0.0.1:{h2c}", http2 = true }},
  {{ addr = "127.0.0.1:{tls}", tls = {{ certificates = [{{ cert = "h2.crt", key = "h2.key" }}] }} }},
]
[[servers.routes]]
path_prefix = "/"
upstream = "origin"
"#,
        origin = origin.addr
    );
    let edge = Edge::start_in(dir, "edgeproxy", &cfg);
    let [h2c, tls] = edge.listening::<2>().map(|a| a.port());
    // h2c: the preface begun, never finished.
    let started = Instant::now();
    let out = exchange(addr(h2c), b"PRI * HTTP/2.0\r\n");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "held {:?}",
        started.elapsed()
    );
    assert!(!out.starts_with("HTTP/1.1 200"), "{out}");
    // TLS with ALPN h2, then silence.
    let s = TcpStream::connect(addr(tls)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(6)))
        .expect("timeout");
    let mut connector =
        openssl::ssl::SslConnector::builder(openssl::ssl::SslMethod::tls()).expect("connector");
    connector.set_verify(openssl::ssl::SslVerifyMode::NONE);
    connector.set_alpn_protos(b"\x02h2").expect("alpn");
    let mut tls_stream = connector.build().connect("h2.test", s).expect("handshake");
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = tls_stream.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "held {:?}",
        started.elapsed()
    );
    assert!(healthy(addr(h2c)), "others still served");
}

/// Reads HTTP/2 frames from `s` until `deadline`; returns (type, flags, stream, payload).
fn read_frames(s: &mut TcpStream, deadline: Duration) -> Vec<(u8, u8, u32, Vec<u8>)> {
    let until = Instant::now() + deadline;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16384];
    while Instant::now() < until {
        s.set_read_timeout(Some(Duration::from_millis(200)))
            .expect("timeout");
        match s.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(_) => continue,
        }
    }
    let mut frames = Vec::new();
    let mut at = 0;
    while buf.len() >= at + 9 {
        let len = (usize::from(buf[at]) << 16)
            | (usize::from(buf[at + 1]) << 8)
            | usize::from(buf[at + 2]);
        if buf.len() < at + 9 + len {
            break;
        }
        let id =
            u32::from_be_bytes([buf[at + 5], buf[at + 6], buf[at + 7], buf[at + 8]]) & 0x7fff_ffff;
        frames.push((
            buf[at + 3],
            buf[at + 4],
            id,
            buf[at + 9..at + 9 + len].to_vec(),
        ));
        at += 9 + len;
    }
    frames
}

#[test]
fn streams_per_connection_are_bounded_by_http2_max_concurrent_streams() {
    let hang = Origin::builder().hang().start();
    let port = 0;
    let cfg = format!(
        r#"
[upstreams.hang]
servers = [{{ addr = "{hang}" }}]
read_timeout = "10s"

[[servers]]
http2_max_concurrent_streams = 4
listen = [{{ addr = "127.0.0.1:{port}", http2 = true }}]
[[servers.routes]]
path_prefix = "/"
upstream = "hang"
"#,
        hang = hang.addr
    );
    let edge = Edge::start(&cfg);
    let port = edge.addr().port();
    let mut s = TcpStream::connect(addr(port)).expect("connect");
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    out.extend(frame(4, 0, 0, &[]));
    for i in 0..10u32 {
        out.extend(frame(1, 0x5, 2 * i + 1, REQUEST_BLOCK));
    }
    s.write_all(&out).expect("write");
    let frames = read_frames(&mut s, Duration::from_secs(2));
    // The server's SETTINGS advertise the bound (SETTINGS_MAX_CONCURRENT_STREAMS = 0x3).
    let settings = frames
        .iter()
        .find(|f| f.0 == 4 && f.1 & 1 == 0)
        .expect("server SETTINGS");
    let advertised = settings
        .3
        .chunks(6)
        .find(|p| p.len() == 6 && p[..2] == [0, 3]);
    assert_eq!(
        advertised.map(|p| u32::from_be_bytes([p[2], p[3], p[4], p[5]])),
        Some(4)
    );
    // Streams beyond it are refused (RST_STREAM REFUSED_STREAM = 0x7), none reaches the origin.
    let refused = frames
        .iter()
        .filter(|f| f.0 == 3 && f.3 == 7u32.to_be_bytes())
        .count();
    assert!(
        refused >= 6,
        "{refused} streams refused; frames: {:?}",
        frames.iter().map(|f| (f.0, f.2)).collect::<Vec<_>>()
    );
}
