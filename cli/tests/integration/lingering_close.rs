//! Lingering close: a response sent before the request body was read (here a 413 on the
//! declared length) closes the connection, but not before the client has stopped sending,
//! so it reads the answer instead of a reset. Bounded by `lingering_timeout` (a client that
//! goes quiet) and `lingering_time` (one that never stops); `lingering_time = "0s"` closes
//! at once, as nginx's `lingering_close off`.
//!
//! Only upper bounds are asserted on time: a connection must be closed *within* a few
//! seconds of a one-second limit (the body would otherwise take minutes to end).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::edge::{Edge, ANY_PORT};

/// How long a connection may outlive its one-second limit before the test fails.
const BOUND: Duration = Duration::from_secs(6);

/// A POST declaring 8 MB, over the route's 1 MiB limit: refused on its header alone.
const HEAD: &[u8] = b"POST /up HTTP/1.1\r\nHost: t\r\nContent-Length: 8000000\r\n\r\n";

fn edge_with(settings: &str) -> (Edge, SocketAddr) {
    let cfg = format!(
        r#"
[[servers]]
listen = ["{ANY_PORT}"]
{settings}

[[servers.routes]]
max_body_bytes = "1MiB"
plugins = [{{ name = "respond", config = {{ status = 200, body = "ok\n" }} }}]
"#
    );
    let edge = Edge::start(&cfg);
    let addr = edge.addr();
    (edge, addr)
}

/// Sends the header and `first` body bytes, then waits for the 413 to have been written
/// (and, without lingering, the socket closed with those bytes unread).
fn refused_upload(addr: SocketAddr, first: usize) -> TcpStream {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_write_timeout(Some(BOUND)).ok();
    s.write_all(HEAD).expect("send the header");
    s.write_all(&vec![b'a'; first])
        .expect("send the body's start");
    std::thread::sleep(Duration::from_millis(400));
    s
}

/// Everything the server sends until it closes (`Err` on a reset instead of a close).
fn read_to_close(s: &mut TcpStream) -> std::io::Result<String> {
    s.set_read_timeout(Some(BOUND)).ok();
    let mut got = Vec::new();
    s.read_to_end(&mut got)?;
    Ok(String::from_utf8_lossy(&got).into_owned())
}

#[test]
fn a_client_still_uploading_reads_its_413_instead_of_a_reset() {
    let (_edge, addr) = edge_with("");
    let mut s = refused_upload(addr, 256 * 1024);
    // Without lingering the kernel has answered the unread bytes with RST by now, and
    // this write fails (EPIPE / ECONNRESET).
    s.write_all(&vec![b'b'; 2 << 20])
        .expect("the server still reads what the client sends");
    s.shutdown(std::net::Shutdown::Write).ok();
    let resp = read_to_close(&mut s).expect("an answer and a close, not a reset");
    assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
    assert!(resp.contains("Connection: close"), "{resp}");
}

#[test]
fn a_client_that_goes_quiet_is_closed_after_lingering_timeout() {
    let (_edge, addr) = edge_with(r#"lingering_timeout = "1s""#);
    let mut s = refused_upload(addr, 64 * 1024);
    let start = Instant::now();
    // client_body_timeout is 60 s: only lingering_timeout can close this one in time.
    let resp = read_to_close(&mut s).expect("an answer and a close, not a reset");
    assert!(resp.starts_with("HTTP/1.1 413 "), "{resp}");
    assert!(
        start.elapsed() < BOUND,
        "closed after {:?}",
        start.elapsed()
    );
}

#[test]
fn a_client_that_never_stops_is_closed_after_lingering_time() {
    let (_edge, addr) = edge_with(r#"lingering_time = "1s""#);
    let mut s = refused_upload(addr, 64 * 1024);
    let start = Instant::now();
    // 16 KiB every 50 ms: never quiet for lingering_timeout (5 s), and 8 MB takes 25 s.
    let closed = loop {
        if start.elapsed() > BOUND {
            break false;
        }
        if s.write_all(&[b'c'; 16 * 1024]).is_err() {
            break true;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(closed, "still reading after {:?}", start.elapsed());
}

#[test]
fn lingering_time_zero_closes_at_once() {
    let (_edge, addr) = edge_with(r#"lingering_time = "0s""#);
    let mut s = refused_upload(addr, 256 * 1024);
    let wrote = s.write_all(&vec![b'b'; 2 << 20]);
    let read = read_to_close(&mut s);
    let reset =
        |r: &std::io::Error| matches!(r.kind(), ErrorKind::BrokenPipe | ErrorKind::ConnectionReset);
    assert!(
        wrote.as_ref().is_err_and(reset) || read.as_ref().is_err_and(reset),
        "no lingering: the unread body is answered with a reset ({wrote:?}, {read:?})"
    );
}
