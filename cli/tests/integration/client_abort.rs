//! A client that goes away mid-request is not an error of ours: the real binary logs it at
//! INFO with the reason (the access log records it too), never at ERROR.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::wait_until;

const BOUND: Duration = Duration::from_secs(10);

/// Sends `bytes` on a new connection, then closes it without reading an answer.
fn send_and_close(addr: SocketAddr, bytes: &[u8]) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.write_all(bytes).expect("send");
}

#[test]
fn a_client_closing_mid_request_is_logged_at_info_not_error() {
    // Answers after 2 s: every client below is gone by then.
    let origin = Origin::builder().delay(Duration::from_secs(2)).start();
    let listen = ANY_PORT;
    let cfg = format!(
        r#"
[upstreams.slow]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = ["{listen}"]
plugins = [{{ name = "access-log", config = {{ path = "access.log" }} }}]

[[servers.routes]]
path_prefix = "/"
upstream = "slow"
"#,
        origin = origin.addr
    );
    let edge = Edge::start(&cfg);
    let listen = edge.addr();
    let access = || std::fs::read_to_string(edge.path("access.log")).unwrap_or_default();

    // While the proxy waits for the origin.
    send_and_close(listen, b"GET /waiting HTTP/1.1\r\nHost: x\r\n\r\n");
    wait_until("the first abort in the access log", BOUND, || {
        access().contains("/waiting")
    })
    .unwrap();
    // Half-way through the request body.
    send_and_close(
        listen,
        b"POST /body HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789",
    );
    wait_until("the second abort in the access log", BOUND, || {
        access().contains("/body")
    })
    .unwrap();
    // Half-way through the request headers: no request exists yet (Pingora's own log).
    send_and_close(listen, b"GET /headers HTTP/1.1\r\nHost: x\r\n");
    wait_until("the header-time abort logged", BOUND, || {
        edge.stderr().contains("while reading request headers")
    })
    .unwrap();

    let stderr = edge.stderr();
    let lines: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("ConnectionClosed"))
        .collect();
    assert_eq!(lines.len(), 3, "{stderr}");
    for l in &lines {
        assert!(l.contains("INFO") && !l.contains("ERROR"), "{l}");
    }
    assert_eq!(
        stderr
            .matches("client closed the connection mid-request (not an error of ours)")
            .count(),
        2,
        "{stderr}"
    );
    assert!(!stderr.contains("ERROR"), "{stderr}");
}
