//! Framing at the edge, over raw sockets: the version of a proxied response is ours (an
//! HTTP/1.0 upstream's status line never reaches a client, and never with chunked framing:
//! RFC 9110 §6.2, RFC 9112 §6.1); an HTTP/1.0 client never gets chunked framing; a chunk
//! extension holding a bare LF (or another control character) is refused with 400 and the
//! connection closed (RFC 9112 §7.1.1), in requests and in upstream responses.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;

/// A raw origin: answers every connection's request with `response` and closes.
struct RawOrigin {
    addr: SocketAddr,
}

impl RawOrigin {
    fn start(response: Vec<u8>) -> RawOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let response = response.clone();
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(Duration::from_secs(5))).ok();
                    let mut buf = Vec::new();
                    let mut byte = [0u8; 1];
                    while !buf.ends_with(b"\r\n\r\n") {
                        match conn.read(&mut byte) {
                            Ok(1) => buf.push(byte[0]),
                            _ => return,
                        }
                    }
                    let _ = conn.write_all(&response);
                });
            }
        });
        RawOrigin { addr }
    }
}

fn html(n: usize) -> String {
    let mut s = String::new();
    let mut i = 0;
    while s.len() < n {
        s.push_str(&format!("<p>row {i} of a page from an old server</p>\n"));
        i += 1;
    }
    s
}

/// Sends `request` and reads until the peer closes (or 5 s pass).
fn exchange(addr: SocketAddr, request: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).ok();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

fn head_of(resp: &[u8]) -> String {
    let text = String::from_utf8_lossy(resp);
    text.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

fn edge_for(upstream: SocketAddr, extra: &str) -> (SocketAddr, Edge) {
    let listen = ANY_PORT;
    let config = format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{upstream}" }}]

[[servers]]
listen = ["{listen}"]
{extra}

[[servers.routes]]
path_prefix = "/"
upstream = "origin"
"#
    );
    let edge = Edge::start(&config);
    (edge.addr(), edge)
}

#[test]
fn an_http10_upstream_answer_goes_out_as_http11_and_never_chunked_to_http10() {
    let body = html(4000);
    let with_length = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let origin = RawOrigin::start(with_length.into_bytes());
    let (listen, _edge) = edge_for(origin.addr, "compression = {}");
    // An HTTP/1.1 client, no compression: our version, the upstream's length.
    let resp = exchange(
        listen,
        b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let head = head_of(&resp);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(
        head.contains(&format!("content-length: {}", body.len())),
        "{head}"
    );
    // Compressed: chunked framing, which only HTTP/1.1 has.
    let resp = exchange(
        listen,
        b"GET /a HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    let head = head_of(&resp);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(head.contains("content-encoding: gzip"), "{head}");
    // curl agrees: it reads HTTP/1.1 and the whole body.
    let url = format!("http://{listen}/a");
    let r = crate::common::curl::curl(&["--compressed", "-H", "accept-encoding: br"], &url);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert!(r.text() == body);

    // An HTTP/1.0 upstream without a length: close-delimited.
    let close_delimited = format!("HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n{body}");
    let origin = RawOrigin::start(close_delimited.into_bytes());
    let (listen, _edge) = edge_for(origin.addr, "");
    // Pingora turns it into chunked framing for HTTP/1.1 clients, with its own version.
    let resp = exchange(
        listen,
        b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let head = head_of(&resp);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    // An HTTP/1.0 client (even one asking for keep-alive) gets no chunked framing: the body
    // ends where the connection does.
    let resp = exchange(
        listen,
        b"GET /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
    );
    let head = head_of(&resp);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(!head.contains("keep-alive"), "{head}");
    let text = String::from_utf8_lossy(&resp);
    assert!(text.ends_with(&body), "body changed: {} bytes", resp.len());
}

/// A chunked request whose first chunk-size line is `line`.
fn chunked_request(line: &[u8]) -> Vec<u8> {
    let mut r = b"POST /up HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    r.extend_from_slice(line);
    r.extend_from_slice(
        b"hello\r\n0\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    r
}

#[test]
fn a_control_character_in_a_chunk_extension_is_400_and_close() {
    let origin = Origin::start();
    let (listen, _edge) = edge_for(origin.addr, "");
    // Accepted: extensions with tokens, quoted strings, whitespace.
    for ok in [
        &b"5\r\n"[..],
        b"5;name=value\r\n",
        b"5;name=\"a b\"\r\n",
        b"5 ;\tname\r\n",
    ] {
        let resp = exchange(listen, &chunked_request(ok));
        let text = String::from_utf8_lossy(&resp);
        assert!(
            text.starts_with("HTTP/1.1 200") && text.matches("HTTP/1.1 200").count() == 2,
            "{:?}: {text}",
            String::from_utf8_lossy(ok)
        );
    }
    let before = origin.hits_for("/up");
    // Refused: a bare LF (a parser ending the line there frames the body differently),
    // NUL, a bare CR, other controls.
    for bad in [
        &b"5;a\nb\r\n"[..],
        b"5;\n\r\n",
        b"5;a=\"x\ny\"\r\n",
        b"5;a\x00\r\n",
        b"5;a\rb\r\n",
        b"5;a\x0bb\r\n",
    ] {
        let resp = exchange(listen, &chunked_request(bad));
        let text = String::from_utf8_lossy(&resp);
        assert!(
            text.starts_with("HTTP/1.1 400"),
            "{:?}: {text}",
            String::from_utf8_lossy(bad)
        );
        // The connection closed after the 400: the pipelined request was never answered.
        assert_eq!(text.matches("HTTP/1.1").count(), 1, "{text}");
        assert!(
            text.to_ascii_lowercase().contains("connection: close"),
            "{text}"
        );
    }
    assert_eq!(
        origin.hits_for("/up"),
        before,
        "a refused body reached the upstream"
    );
    assert_eq!(origin.hits_for("/second"), 4);
}

#[test]
fn an_upstream_chunk_extension_with_a_bare_lf_is_not_passed_on() {
    let origin = RawOrigin::start(
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a\nb\r\nhello\r\n0\r\n\r\n"
            .to_vec(),
    );
    let (listen, _edge) = edge_for(origin.addr, "");
    let resp = exchange(
        listen,
        b"GET /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let text = String::from_utf8_lossy(&resp);
    // Either a 502 before anything was sent, or a body cut short: never "hello" whole.
    assert!(!text.contains("\r\n0\r\n\r\n"), "{text}");
    assert!(!text.contains("hello"), "{text}");
}
