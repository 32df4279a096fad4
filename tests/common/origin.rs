//! A real HTTP/1.1 origin on a free port that counts hits and echoes what it received.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the origin saw in one request.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: String,
    /// Request target (path and query).
    pub target: String,
    /// Headers, lowercased names.
    pub headers: BTreeMap<String, String>,
    /// Body length.
    pub body_len: usize,
}

struct State {
    hits: AtomicUsize,
    status: AtomicU16,
    stop: AtomicBool,
    seen: Mutex<Vec<Seen>>,
    bodies: Mutex<BTreeMap<String, (u16, String)>>,
}

/// The origin server. Answers `200` with `origin <port> <target>` unless told otherwise.
pub struct Origin {
    /// Address it listens on.
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Origin {
    /// Starts an origin on a free loopback port.
    pub fn start() -> Origin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            hits: AtomicUsize::new(0),
            status: AtomicU16::new(200),
            stop: AtomicBool::new(false),
            seen: Mutex::new(Vec::new()),
            bodies: Mutex::new(BTreeMap::new()),
        });
        let st = state.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(conn) = conn {
                    let st = st.clone();
                    std::thread::spawn(move || serve(conn, addr.port(), st));
                }
            }
        });
        Origin { addr, state }
    }

    /// Requests served so far.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Every request seen so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().unwrap().clone()
    }

    /// Status answered for paths without a fixed body.
    pub fn set_status(&self, status: u16) {
        self.state.status.store(status, Ordering::SeqCst);
    }

    /// A fixed answer for one path (query excluded).
    pub fn set_body(&self, path: &str, status: u16, body: &str) {
        self.state
            .bodies
            .lock()
            .unwrap()
            .insert(path.to_string(), (status, body.to_string()));
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(100));
    }
}

fn serve(conn: TcpStream, port: u16, st: Arc<State>) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(30)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || st.stop.load(Ordering::SeqCst) {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = BTreeMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let body_len = read_body(&mut reader, &headers);
        st.hits.fetch_add(1, Ordering::SeqCst);
        st.seen.lock().unwrap().push(Seen {
            method: method.clone(),
            target: target.clone(),
            headers,
            body_len,
        });
        let path = target.split('?').next().unwrap_or("").to_string();
        let (status, body) = match st.bodies.lock().unwrap().get(&path) {
            Some((s, b)) => (*s, b.clone()),
            None => (
                st.status.load(Ordering::SeqCst),
                format!("origin {port} {target}\n"),
            ),
        };
        let resp = format!(
            "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nContent-Type: text/plain\r\nX-Origin-Port: {port}\r\n\r\n{}",
            body.len(),
            if method == "HEAD" { "" } else { &body }
        );
        if out.write_all(resp.as_bytes()).is_err() {
            return;
        }
    }
}

fn read_body(reader: &mut BufReader<TcpStream>, headers: &BTreeMap<String, String>) -> usize {
    if let Some(len) = headers
        .get("content-length")
        .and_then(|v| v.parse::<usize>().ok())
    {
        let mut buf = vec![0u8; len];
        return reader.read_exact(&mut buf).map(|_| len).unwrap_or(0);
    }
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        let mut total = 0;
        loop {
            let mut size_line = String::new();
            if reader.read_line(&mut size_line).unwrap_or(0) == 0 {
                return total;
            }
            let size = usize::from_str_radix(size_line.trim(), 16).unwrap_or(0);
            let mut buf = vec![0u8; size + 2];
            if reader.read_exact(&mut buf).is_err() {
                return total;
            }
            total += size;
            if size == 0 {
                return total;
            }
        }
    }
    0
}
