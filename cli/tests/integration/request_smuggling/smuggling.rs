//! The runner of `request_smuggling.rs`: one edge and one origin double per table,
//! each case on its own connection, its verdict from what came back and what the origin
//! parsed.

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::http::Request;
use crate::common::origin::Origin;

/// How long a case waits for the proxy to finish answering and close.
const ANSWER: Duration = Duration::from_secs(3);

/// What must happen to a case.
#[derive(Debug, Clone, Copy)]
pub enum Want {
    /// One response with this status, then the connection closed; the origin saw nothing.
    Refused(u16),
    /// One 401 from the `key-auth` route; the origin saw nothing.
    KeyCheck,
    /// One 200; the origin received exactly one request, for this target, with this body,
    /// framed once (a single canonical `Content-Length` or `Transfer-Encoding: chunked`).
    Routed(&'static str, &'static str),
    /// Requests sent back to back: these statuses in order; the origin received exactly
    /// these targets.
    Each(&'static [u16], &'static [&'static str]),
}

impl Want {
    fn origin_requests(self) -> usize {
        match self {
            Want::Refused(_) | Want::KeyCheck => 0,
            Want::Routed(..) => 1,
            Want::Each(_, targets) => targets.len(),
        }
    }
}

/// A check on the request the origin received.
pub type Check = fn(&Request) -> Result<(), String>;

/// One row of a table.
pub struct Case {
    what: String,
    bytes: Vec<u8>,
    want: Want,
    check: Option<Check>,
}

impl Case {
    /// `bytes` sent as they are.
    pub fn new(what: &str, bytes: &[u8], want: Want) -> Case {
        Case {
            what: what.into(),
            bytes: bytes.to_vec(),
            want,
            check: None,
        }
    }

    /// Like [`Case::new`] with a built request.
    pub fn owned(what: &str, bytes: String, want: Want) -> Case {
        Case::new(what, bytes.as_bytes(), want)
    }

    /// A body-less request routed to `target`, with `check` on what the origin received.
    pub fn check(what: &str, bytes: &[u8], target: &'static str, check: Check) -> Case {
        Case {
            check: Some(check),
            ..Case::new(what, bytes, Want::Routed(target, ""))
        }
    }
}

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

[[servers.routes]]
path_prefix = "/auth/"
upstream = "backend"
plugins = [{{ name = "key-auth", config = {{ keys_env = "SMUGGLING_KEYS" }} }}]

[[servers.routes]]
path_prefix = "/small/"
upstream = "backend"
max_body_bytes = 16

[[servers.routes]]
upstream = "backend"
"#,
        origin = origin.addr
    );
    let edge = Edge::start_with(&cfg, &[("SMUGGLING_KEYS", "k1")]);
    let addr = edge.addr();
    Setup {
        _edge: edge,
        addr,
        origin,
    }
}

/// Runs every case of `cases` against a fresh edge and fails with all failures at once;
/// at the end the origin must have received exactly the requests the table accounts for.
pub fn run(cases: &[Case]) {
    let s = setup();
    let mut failures = Vec::new();
    let mut accounted = 0;
    for case in cases {
        let before = s.origin.hits();
        let got = exchange(s.addr, &case.bytes);
        let seen = s.origin.seen();
        let new = seen.get(before..).unwrap_or_default();
        accounted += case.want.origin_requests();
        if let Err(why) = verdict(case, &got, new) {
            let targets: Vec<_> = new.iter().map(|r| (short(&r.method), &r.target)).collect();
            failures.push(format!(
                "{}: {why}\n    statuses {:?}, closed {}, origin got {targets:?}",
                case.what, got.statuses, got.closed
            ));
        }
    }
    // A request smuggled to the origin could still be on its way: give it a moment (the
    // one place a sleep stands for "nothing else arrives").
    std::thread::sleep(Duration::from_millis(300));
    let seen = s.origin.seen();
    if seen.len() != accounted {
        let targets: Vec<_> = seen.iter().map(|r| &r.target).collect();
        failures.push(format!(
            "origin received {} requests, the table accounts for {accounted}: {targets:?}",
            seen.len()
        ));
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

fn verdict(case: &Case, got: &Exchange, new: &[Request]) -> Result<(), String> {
    let statuses = got.statuses.as_slice();
    match case.want {
        Want::Refused(code) => {
            expect(statuses == [code], format!("want only {code}"))?;
            expect(got.closed, "connection left open".into())?;
            expect(new.is_empty(), "origin reached".into())
        }
        Want::KeyCheck => {
            expect(statuses == [401], "want only 401".into())?;
            expect(new.is_empty(), "origin reached".into())
        }
        Want::Routed(target, body) => {
            expect(statuses == [200], "want only 200".into())?;
            let [r] = new else {
                return Err("want exactly one request at the origin".into());
            };
            expect(r.target == target, format!("want target {target}"))?;
            expect(
                r.body == body.as_bytes(),
                format!(
                    "want body {body:?}, got {:?}",
                    String::from_utf8_lossy(&r.body)
                ),
            )?;
            framed_once(r)?;
            case.check.map_or(Ok(()), |check| check(r))
        }
        Want::Each(want, targets) => {
            expect(statuses == want, format!("want {want:?}"))?;
            let got: Vec<&str> = new.iter().map(|r| r.target.as_str()).collect();
            expect(got == targets, format!("want origin targets {targets:?}"))
        }
    }
}

/// At most 40 characters of `s`, for failure messages.
fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

fn expect(ok: bool, why: String) -> Result<(), String> {
    ok.then_some(()).ok_or(why)
}

/// At most one framing field, and it matches the body: `Transfer-Encoding: chunked`, or a
/// `Content-Length` in canonical digits.
fn framed_once(r: &Request) -> Result<(), String> {
    let framing: Vec<_> = r
        .header_lines
        .iter()
        .filter(|(k, _)| k == "content-length" || k == "transfer-encoding")
        .collect();
    let ok = match framing.as_slice() {
        [] => r.body.is_empty(),
        [(k, v)] if k == "transfer-encoding" => v == "chunked",
        [(_, v)] => *v == r.body.len().to_string(),
        _ => false,
    };
    expect(ok, format!("forwarded with framing {framing:?}"))
}

/// What came back on one connection.
struct Exchange {
    /// Final statuses, in order (1xx left out).
    statuses: Vec<u16>,
    /// The proxy closed the connection (rather than leaving it open past [`ANSWER`]).
    closed: bool,
}

/// Sends `bytes` (from another thread, so a proxy that answers before reading everything
/// does not block us) and reads until the proxy closes or [`ANSWER`] passes.
fn exchange(addr: SocketAddr, bytes: &[u8]) -> Exchange {
    let mut stream = TcpStream::connect(addr).expect("connect to the edge");
    stream.set_read_timeout(Some(ANSWER)).ok();
    let mut writer = stream.try_clone().expect("clone the stream");
    let bytes = bytes.to_vec();
    let sender = std::thread::spawn(move || {
        let _ = writer.write_all(&bytes);
    });
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 << 10];
    let closed = loop {
        match stream.read(&mut chunk) {
            Ok(0) => break true,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::ConnectionReset => break true,
            Err(_) => break false,
        }
    };
    let _ = stream.shutdown(Shutdown::Both);
    let _ = sender.join();
    Exchange {
        statuses: statuses(&buf),
        closed,
    }
}

/// The statuses of the responses in `buf`, 1xx left out; bodies are skipped by
/// `Content-Length` (every response here has one).
fn statuses(mut buf: &[u8]) -> Vec<u16> {
    let mut out = Vec::new();
    while let Some(end) = find(buf, b"\r\n\r\n") {
        let head = String::from_utf8_lossy(&buf[..end]);
        let Some(status) = head
            .strip_prefix("HTTP/1.1 ")
            .and_then(|s| s.get(..3))
            .and_then(|s| s.parse::<u16>().ok())
        else {
            out.push(0); // something that is not a response
            break;
        };
        let len = crate::common::raw::content_length(&head);
        if status >= 200 {
            out.push(status);
        }
        buf = buf.get(end + 4 + len..).unwrap_or_default();
    }
    out
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
