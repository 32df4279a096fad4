//! The HTTP/1.1 server under the origin and Consul doubles: std threads, keep-alive, one
//! thread a connection. A handler answers each request; it may wait (delays, hangs, Consul
//! blocking queries) on the server's [`Gate`], which stopping the server opens. Stopping
//! closes the listener and every connection and joins every thread.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One request as received.
#[derive(Debug, Clone)]
pub struct Request {
    /// Method.
    pub method: String,
    /// Request target (path and query).
    pub target: String,
    /// Headers, names lowercased (the last one of a name that came more than once).
    pub headers: BTreeMap<String, String>,
    /// Every header line as received, in order, names lowercased.
    pub header_lines: Vec<(String, String)>,
    /// Body (de-chunked).
    pub body: Vec<u8>,
}

impl Request {
    /// The target without its query.
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query string (`""` when there is none).
    pub fn query(&self) -> &str {
        self.target.split_once('?').map_or("", |(_, q)| q)
    }
}

/// An answer: status, extra headers (`Content-Length` is added) and body.
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers besides `Content-Length`.
    pub headers: Vec<(&'static str, String)>,
    /// Body (not sent for `HEAD`).
    pub body: Vec<u8>,
}

/// Answers one request; `None` drops the connection unanswered.
pub type Handler = dyn Fn(&Request, &Gate) -> Option<Response> + Send + Sync;

/// What handlers wait on: woken by [`HttpServer::notify`] and, for good, by stopping.
#[derive(Default)]
pub struct Gate {
    stopped: Mutex<bool>,
    cv: Condvar,
}

impl Gate {
    /// Waits until `done()` (re-checked on every notify) or `timeout` (`None` or too large
    /// to add to now: forever) or the server stops. Returns whether `done()` became true.
    pub fn wait(&self, timeout: Option<Duration>, mut done: impl FnMut() -> bool) -> bool {
        let end = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut stopped = self.stopped.lock().unwrap();
        loop {
            if done() {
                return true;
            }
            let now = Instant::now();
            if *stopped || end.is_some_and(|e| now >= e) {
                return false;
            }
            stopped = match end {
                Some(e) => self.cv.wait_timeout(stopped, e - now).unwrap().0,
                None => self.cv.wait(stopped).unwrap(),
            };
        }
    }

    /// Whether the server has stopped.
    pub fn stopped(&self) -> bool {
        *self.stopped.lock().unwrap()
    }

    /// Wakes every handler waiting in [`Gate::wait`] (a handler that changed what others
    /// wait for).
    pub fn notify(&self) {
        let _guard = self.stopped.lock().unwrap();
        self.cv.notify_all();
    }

    fn stop(&self) {
        *self.stopped.lock().unwrap() = true;
        self.cv.notify_all();
    }
}

type Conns = Arc<Mutex<Vec<(TcpStream, JoinHandle<()>)>>>;

/// A running server; stopped on `Drop`.
pub struct HttpServer {
    addr: SocketAddr,
    gate: Arc<Gate>,
    accept: Option<JoinHandle<()>>,
    conns: Conns,
}

impl HttpServer {
    /// Serves `listener` with `handler` until stopped.
    pub fn start(listener: TcpListener, handler: Arc<Handler>) -> HttpServer {
        let addr = listener.local_addr().expect("listener address");
        let gate = Arc::new(Gate::default());
        let conns: Conns = Arc::default();
        let (g, c) = (gate.clone(), conns.clone());
        let accept = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if g.stopped() {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let Ok(peer) = stream.try_clone() else {
                    continue;
                };
                let (g, h) = (g.clone(), handler.clone());
                let thread = std::thread::spawn(move || connection(stream, &*h, &g));
                let mut conns = c.lock().unwrap();
                conns.retain(|(_, t)| !t.is_finished());
                conns.push((peer, thread));
            }
        });
        HttpServer {
            addr,
            gate,
            accept: Some(accept),
            conns,
        }
    }

    /// Wakes handlers waiting on the gate so they re-check their condition.
    pub fn notify(&self) {
        self.gate.notify();
    }

    /// Stops listening, closes every connection and joins every thread.
    pub fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.gate.stop();
        // `accept()` blocks: a connection wakes it to see the stop.
        let _ = TcpStream::connect(self.addr);
        let _ = accept.join();
        let conns: Vec<_> = self.conns.lock().unwrap().drain(..).collect();
        for (stream, thread) in conns {
            let _ = stream.shutdown(Shutdown::Both);
            let _ = thread.join();
        }
    }
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn connection(stream: TcpStream, handler: &Handler, gate: &Gate) {
    let _ = stream.set_nodelay(true);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(s) => s,
        Err(_) => return,
    });
    let mut out = stream;
    while let Some(req) = read_request(&mut reader) {
        if gate.stopped() {
            return;
        }
        let Some(resp) = handler(&req, gate) else {
            return;
        };
        let mut bytes = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
        for (k, v) in &resp.headers {
            bytes.push_str(&format!("{k}: {v}\r\n"));
        }
        bytes.push_str(&format!("Content-Length: {}\r\n\r\n", resp.body.len()));
        // One write: a separate small body write would wait for the delayed ACK (Nagle).
        let mut bytes = bytes.into_bytes();
        if req.method != "HEAD" {
            bytes.extend_from_slice(&resp.body);
        }
        if out.write_all(&bytes).is_err() {
            return;
        }
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = BTreeMap::new();
    let mut header_lines = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            headers.insert(k.clone(), v.clone());
            header_lines.push((k, v));
        }
    }
    let body = read_body(reader, &headers)?;
    Some(Request {
        method,
        target,
        headers,
        header_lines,
        body,
    })
}

fn read_body(r: &mut BufReader<TcpStream>, headers: &BTreeMap<String, String>) -> Option<Vec<u8>> {
    if let Some(len) = headers.get("content-length") {
        let mut body = vec![0u8; len.parse().ok()?];
        r.read_exact(&mut body).ok()?;
        return Some(body);
    }
    let mut body = Vec::new();
    if headers
        .get("transfer-encoding")
        .is_some_and(|v| v.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            r.read_line(&mut size).ok()?;
            let size = usize::from_str_radix(size.trim(), 16).ok()?;
            let mut chunk = vec![0u8; size + 2]; // with its CRLF
            r.read_exact(&mut chunk).ok()?;
            body.extend_from_slice(&chunk[..size]);
            if size == 0 {
                break;
            }
        }
    }
    Some(body)
}
