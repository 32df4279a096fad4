//! Slow and idle clients cannot hold connections forever, and connections are capped
//! (issue 11, item 4): `client_header_timeout` bounds the whole header, `keepalive_timeout`
//! closes idle keep-alive connections, `client_body_timeout` bounds the wait between body
//! reads, `max_connections` refuses connections beyond it while open ones keep working.
//!
//! Only upper bounds are asserted: a connection must be closed *within* a few seconds of a
//! one-second limit (without the limits it stays open, and the test fails at the bound).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::raw::read_response;
use crate::common::wait_until;

/// How long a connection may outlive its one-second limit before the test fails.
const BOUND: Duration = Duration::from_secs(5);

const GET: &[u8] = b"GET /local HTTP/1.1\r\nHost: t\r\n\r\n";

fn edge_with(limits: &str, origin: &Origin) -> (Edge, SocketAddr) {
    let addr = ANY_PORT;
    let cfg = format!(
        r#"
[upstreams.backend]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = ["{addr}"]
{limits}

[[servers.routes]]
path = "/local"
plugins = [{{ name = "respond", config = {{ status = 200, body = "ok\n" }} }}]

[[servers.routes]]
upstream = "backend"
"#,
        origin = origin.addr
    );
    let edge = Edge::start(&cfg);
    let addr = edge.addr();
    (edge, addr)
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s
}

/// True once the peer has closed `s` (EOF or reset); false while it stays open.
fn closed_now(s: &mut TcpStream) -> bool {
    s.set_read_timeout(Some(Duration::from_millis(20))).ok();
    let mut buf = [0u8; 512];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // e.g. an error response before the close
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// Sends one more header line every 300 ms (each read restarts a per-read timeout, not
/// the header deadline) until the server closes `s` (true) or BOUND has passed since
/// `start` (false).
fn trickle_until_closed(s: &mut TcpStream, start: Instant) -> bool {
    let mut line = 0;
    while start.elapsed() < BOUND {
        std::thread::sleep(Duration::from_millis(300));
        line += 1;
        if s.write_all(format!("X-Slow-{line}: x\r\n").as_bytes())
            .is_err()
            || closed_now(s)
        {
            return true;
        }
    }
    false
}

#[test]
fn a_header_trickled_line_by_line_is_cut_off_at_client_header_timeout() {
    let origin = Origin::start();
    let (_edge, addr) = edge_with(r#"client_header_timeout = "1s""#, &origin);
    let mut s = connect(addr);
    let start = Instant::now();
    let _ = s.write_all(b"GET /local HTTP/1.1\r\nHost: t\r\n");
    let closed = trickle_until_closed(&mut s, start);
    assert!(
        closed,
        "a client trickling its header was still connected after {:?}",
        start.elapsed()
    );
}

#[test]
fn a_header_trickled_on_a_kept_alive_connection_is_cut_off_too() {
    // The second request of a connection: its deadline starts with its first bytes (the
    // idle wait before is keepalive_timeout's), and a trickle is cut as on a new one.
    let origin = Origin::start();
    let (_edge, addr) = edge_with(
        r#"client_header_timeout = "1s"
keepalive_timeout = "30s""#,
        &origin,
    );
    let mut s = connect(addr);
    s.write_all(GET).expect("send");
    let resp = read_response(&mut s).expect("first response");
    assert!(resp.contains("keep-alive"), "{resp}");
    std::thread::sleep(Duration::from_millis(1500)); // idle longer than the header timeout
    assert!(
        !closed_now(&mut s),
        "the idle wait counted against client_header_timeout"
    );
    let start = Instant::now();
    s.write_all(b"GET /local HTTP/1.1\r\nHost: t\r\n")
        .expect("the idle connection is still open");
    let closed = trickle_until_closed(&mut s, start);
    assert!(
        closed,
        "a kept-alive client trickling its header was still connected after {:?}",
        start.elapsed()
    );
}

#[test]
fn an_idle_keepalive_connection_is_closed_at_keepalive_timeout() {
    let origin = Origin::start();
    let (_edge, addr) = edge_with(r#"keepalive_timeout = "1s""#, &origin);
    let mut s = connect(addr);
    s.write_all(GET).expect("send");
    let resp = read_response(&mut s).expect("response");
    assert!(resp.contains("keep-alive"), "{resp}");
    let idle = Instant::now();
    wait_until("the idle connection to be closed", BOUND, || {
        closed_now(&mut s)
    })
    .unwrap_or_else(|e| panic!("{e} (idle for {:?})", idle.elapsed()));
}

#[test]
fn keepalive_timeout_zero_turns_keepalive_off() {
    let origin = Origin::start();
    let (_edge, addr) = edge_with(r#"keepalive_timeout = "0s""#, &origin);
    let mut s = connect(addr);
    s.write_all(GET).expect("send");
    let resp = read_response(&mut s).expect("response");
    assert!(resp.contains("Connection: close"), "{resp}");
}

#[test]
fn a_stalled_body_gets_408_at_client_body_timeout() {
    let origin = Origin::start();
    let (_edge, addr) = edge_with(r#"client_body_timeout = "1s""#, &origin);
    let mut s = connect(addr);
    s.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 10\r\n\r\nab")
        .expect("send");
    s.set_read_timeout(Some(BOUND)).ok();
    let resp = read_response(&mut s);
    assert!(
        resp.as_deref()
            .is_some_and(|r| r.starts_with("HTTP/1.1 408")),
        "{resp:?}"
    );
}

#[test]
fn connections_beyond_max_connections_are_refused_while_open_ones_keep_working() {
    let origin = Origin::start();
    let (_edge, addr) = edge_with("max_connections = 2", &origin);
    let mut open: Vec<TcpStream> = (0..2).map(|_| connect(addr)).collect();
    for s in &mut open {
        s.write_all(GET).expect("send");
        assert!(read_response(s).is_some_and(|r| r.starts_with("HTTP/1.1 200")));
    }
    // A third connection is answered 503 and closed (or just closed, when the client's
    // bytes made the close a reset), without the client sending anything.
    let mut third = connect(addr);
    let mut got = Vec::new();
    let end = third.read_to_end(&mut got);
    let got = String::from_utf8_lossy(&got);
    let timed_out = end
        .as_ref()
        .is_err_and(|e| matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut));
    assert!(!timed_out, "third connection still open: {got:?}");
    assert!(
        got.is_empty() || got.starts_with("HTTP/1.1 503"),
        "third connection: {got}"
    );
    for s in &mut open {
        s.write_all(GET).expect("send");
        let resp = read_response(s);
        assert!(resp.is_some_and(|r| r.starts_with("HTTP/1.1 200")));
    }
    // Closing one frees its slot.
    drop(open.pop());
    wait_until("a new connection to be served", BOUND, || {
        let mut s = connect(addr);
        s.write_all(GET).is_ok() && read_response(&mut s).is_some_and(|r| r.contains(" 200 "))
    })
    .unwrap();
}
