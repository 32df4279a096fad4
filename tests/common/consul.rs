//! A Consul KV double: a real HTTP/1.1 server on `127.0.0.1:0` following the documented
//! KV API (`GET ?recurse`, blocking `index`/`wait`, `X-Consul-Index`, 404 with index,
//! `PUT`, `DELETE` with tombstones), plus fault injection (500s, hangs, stop/restart).
//! It runs on its own runtime thread, so it works from sync and async tests alike.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::AbortHandle;

#[derive(Default)]
struct Kv {
    index: u64,
    /// key → (value, create index, modify index)
    entries: BTreeMap<String, (Vec<u8>, u64, u64)>,
    /// deleted key → delete index
    tombstones: BTreeMap<String, u64>,
}

impl Kv {
    fn prefix_index(&self, prefix: &str) -> u64 {
        let live = self
            .entries
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, v)| v.2);
        let dead = self
            .tombstones
            .iter()
            .filter(|(k, _)| k.starts_with(prefix))
            .map(|(_, i)| *i);
        live.chain(dead).max().unwrap_or(self.index).max(1)
    }
}

struct Shared {
    kv: Mutex<Kv>,
    changed: watch::Sender<u64>,
    fail_500: AtomicBool,
    hang: AtomicBool,
    requests: AtomicU64,
    queries: Mutex<Vec<String>>,
    token: Mutex<Option<String>>,
    tasks: Mutex<Vec<AbortHandle>>,
}

/// A running Consul KV double. Dropping it stops the server.
pub struct ConsulDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    rt: Option<tokio::runtime::Runtime>,
}

impl ConsulDouble {
    /// Starts the double on a free loopback port.
    pub fn start() -> ConsulDouble {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let shared = Arc::new(Shared {
            kv: Mutex::new(Kv {
                index: 1,
                ..Kv::default()
            }),
            changed: watch::channel(0).0,
            fail_500: AtomicBool::new(false),
            hang: AtomicBool::new(false),
            requests: AtomicU64::new(0),
            queries: Mutex::new(Vec::new()),
            token: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let double = ConsulDouble {
            addr,
            shared,
            rt: Some(rt),
        };
        double.serve(listener);
        double
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Listening address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    fn serve(&self, listener: std::net::TcpListener) {
        let shared = self.shared.clone();
        let rt = self.rt.as_ref().unwrap();
        listener.set_nonblocking(true).unwrap();
        let listener = {
            let _enter = rt.enter();
            TcpListener::from_std(listener).unwrap()
        };
        let handle = rt.handle().clone();
        let task = rt.spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let conn = handle.spawn(connection(stream, shared.clone()));
                let mut tasks = shared.tasks.lock().unwrap();
                tasks.retain(|t| !t.is_finished());
                tasks.push(conn.abort_handle());
            }
        });
        self.shared.tasks.lock().unwrap().push(task.abort_handle());
    }

    /// Stores `value` (raw; `""` is an empty value, served as `null`) under `key`.
    pub fn put(&self, key: &str, value: &str) {
        let mut kv = self.shared.kv.lock().unwrap();
        kv.index += 1;
        let i = kv.index;
        let create = kv.entries.get(key).map(|e| e.1).unwrap_or(i);
        kv.entries
            .insert(key.to_string(), (value.as_bytes().to_vec(), create, i));
        kv.tombstones.remove(key);
        drop(kv);
        self.shared.changed.send_replace(i);
    }

    /// Deletes `key` (the prefix's index still increases: tombstone).
    pub fn delete(&self, key: &str) {
        let mut kv = self.shared.kv.lock().unwrap();
        kv.index += 1;
        let i = kv.index;
        kv.entries.remove(key);
        kv.tombstones.insert(key.to_string(), i);
        drop(kv);
        self.shared.changed.send_replace(i);
    }

    /// Makes the index go backwards (like a snapshot restore): data kept, every index 1.
    pub fn reset_index(&self) {
        let mut kv = self.shared.kv.lock().unwrap();
        kv.index = 1;
        kv.tombstones.clear();
        for e in kv.entries.values_mut() {
            e.1 = 1;
            e.2 = 1;
        }
    }

    /// The current index of `prefix` (what `X-Consul-Index` would say).
    pub fn index(&self, prefix: &str) -> u64 {
        self.shared.kv.lock().unwrap().prefix_index(prefix)
    }

    /// Answer every KV request with 500 while on.
    pub fn fail_with_500(&self, on: bool) {
        self.shared.fail_500.store(on, SeqCst);
    }

    /// Accept requests but never answer them while on.
    pub fn hang(&self, on: bool) {
        self.shared.hang.store(on, SeqCst);
    }

    /// Require this `X-Consul-Token` (403 otherwise); `None` = no ACLs.
    pub fn require_token(&self, token: Option<&str>) {
        *self.shared.token.lock().unwrap() = token.map(str::to_string);
    }

    /// Stops listening and drops every open connection. The data is kept.
    pub fn stop(&self) {
        for t in self.shared.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        // wait until the port is really closed
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while std::net::TcpStream::connect(self.addr).is_ok() {
            assert!(std::time::Instant::now() < deadline, "double did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Listens again on the same port after [`stop`](Self::stop).
    pub fn restart(&self) {
        let listener = std::net::TcpListener::bind(self.addr).unwrap();
        self.serve(listener);
    }

    /// Requests received so far (all methods).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(SeqCst)
    }

    /// Query strings of every GET so far, in order.
    pub fn queries(&self) -> Vec<String> {
        self.shared.queries.lock().unwrap().clone()
    }

    /// Parsed query parameters of the last GET.
    pub fn last_query(&self) -> Option<HashMap<String, String>> {
        let q = self.shared.queries.lock().unwrap().last().cloned()?;
        Some(parse_query(&q))
    }
}

impl Drop for ConsulDouble {
    fn drop(&mut self) {
        for t in self.shared.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (p.to_string(), String::new()),
        })
        .collect()
}

struct Request {
    method: String,
    path: String,
    query: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

async fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if r.read_line(&mut h).await.ok()? == 0 {
            return None;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.ok()?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), q.to_string()),
        None => (target, String::new()),
    };
    Some(Request {
        method,
        path,
        query,
        headers,
        body,
    })
}

async fn connection(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let mut r = BufReader::new(stream);
    while let Some(req) = read_request(&mut r).await {
        shared.requests.fetch_add(1, SeqCst);
        let (status, index, body) = handle(&shared, req).await;
        let mut head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        );
        if let Some(i) = index {
            head.push_str(&format!("X-Consul-Index: {i}\r\n"));
        }
        head.push_str("\r\n");
        // One write, like Consul (Go sets TCP_NODELAY): a separate small body write would
        // wait for the delayed ACK of the head (Nagle), adding ~40 ms to every answer.
        let mut out = head.into_bytes();
        out.extend_from_slice(&body);
        if r.get_mut().write_all(&out).await.is_err() {
            return;
        }
    }
}

async fn handle(shared: &Shared, req: Request) -> (&'static str, Option<u64>, Vec<u8>) {
    if req.method == "GET" {
        shared.queries.lock().unwrap().push(req.query.clone());
    }
    if shared.hang.load(SeqCst) {
        std::future::pending::<()>().await;
    }
    if shared.fail_500.load(SeqCst) {
        return (
            "500 Internal Server Error",
            None,
            b"injected failure".to_vec(),
        );
    }
    let required = shared.token.lock().unwrap().clone();
    if required.is_some() && required.as_ref() != req.headers.get("x-consul-token") {
        return ("403 Forbidden", None, b"ACL not found".to_vec());
    }
    let Some(key) = req.path.strip_prefix("/v1/kv/") else {
        return ("404 Not Found", None, Vec::new());
    };
    let key = key.to_string();
    let q = parse_query(&req.query);
    match req.method.as_str() {
        "PUT" => {
            let mut kv = shared.kv.lock().unwrap();
            kv.index += 1;
            let i = kv.index;
            let create = kv.entries.get(&key).map(|e| e.1).unwrap_or(i);
            kv.entries.insert(key.clone(), (req.body, create, i));
            kv.tombstones.remove(&key);
            drop(kv);
            shared.changed.send_replace(i);
            ("200 OK", Some(i), b"true".to_vec())
        }
        "DELETE" => {
            let mut kv = shared.kv.lock().unwrap();
            kv.index += 1;
            let i = kv.index;
            kv.entries.remove(&key);
            kv.tombstones.insert(key, i);
            drop(kv);
            shared.changed.send_replace(i);
            ("200 OK", Some(i), b"true".to_vec())
        }
        "GET" => get(shared, &key, &q).await,
        _ => ("405 Method Not Allowed", None, Vec::new()),
    }
}

async fn get(
    shared: &Shared,
    key: &str,
    q: &HashMap<String, String>,
) -> (&'static str, Option<u64>, Vec<u8>) {
    let recurse = q.contains_key("recurse");
    let wanted: u64 = q.get("index").and_then(|i| i.parse().ok()).unwrap_or(0);
    if wanted > 0 {
        let wait = q
            .get("wait")
            .and_then(|w| humantime::parse_duration(w).ok())
            .unwrap_or(Duration::from_secs(300))
            .min(Duration::from_secs(600));
        let mut rx = shared.changed.subscribe();
        let _ = tokio::time::timeout(wait, async {
            loop {
                if shared.kv.lock().unwrap().prefix_index(key) > wanted {
                    return;
                }
                if rx.changed().await.is_err() {
                    return;
                }
            }
        })
        .await;
    }
    let kv = shared.kv.lock().unwrap();
    let index = kv.prefix_index(key);
    let items: Vec<serde_json::Value> = kv
        .entries
        .iter()
        .filter(|(k, _)| {
            if recurse {
                k.starts_with(key)
            } else {
                k.as_str() == key
            }
        })
        .map(|(k, (v, c, m))| {
            let value = if v.is_empty() {
                serde_json::Value::Null
            } else {
                base64(v).into()
            };
            serde_json::json!({"Key": k, "Value": value, "CreateIndex": c, "ModifyIndex": m,
                               "LockIndex": 0, "Flags": 0})
        })
        .collect();
    if items.is_empty() {
        return ("404 Not Found", Some(index), Vec::new());
    }
    ("200 OK", Some(index), serde_json::to_vec(&items).unwrap())
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, data)
}
