//! The Consul KV double: a real HTTP/1.1 server on `127.0.0.1:0` answering reads the way the
//! documented KV API does (`GET ?recurse`, blocking `index`/`wait`, `X-Consul-Index`, 404
//! with an index, tombstones raising a prefix's index) and transactions (`PUT /v1/txn` with
//! `set`, `cas`, `delete-cas`: all or nothing at one index, 409 with `Errors` when a
//! check-and-set fails), written to by the test itself or by transactions, plus fault
//! injection (500s, hangs, ACL token, stop/restart on the same port).

use std::collections::{BTreeMap, HashMap};
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{Gate, HttpServer, Request, Response};

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
        let live = self.entries.iter().filter(|(k, _)| k.starts_with(prefix));
        let dead = self
            .tombstones
            .iter()
            .filter(|(k, _)| k.starts_with(prefix));
        let live = live.map(|(_, v)| v.2);
        live.chain(dead.map(|(_, i)| *i))
            .max()
            .unwrap_or(self.index)
            .max(1)
    }
}

#[derive(Default)]
struct Shared {
    kv: Mutex<Kv>,
    fail_500: AtomicBool,
    hang: AtomicBool,
    /// Hang only the transactions that write a node's status (`…/status/…` keys).
    hang_status: AtomicBool,
    requests: AtomicU64,
    parked: AtomicUsize,
    queries: Mutex<Vec<String>>,
    token: Mutex<Option<String>>,
    /// Transactions wait this long before they are applied (to make two overlap).
    txn_delay: Mutex<Duration>,
}

/// A running Consul KV double; stopped on `Drop`.
pub struct ConsulDouble {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: Mutex<Option<HttpServer>>,
}

impl ConsulDouble {
    /// Starts the double on a free loopback port.
    pub fn start() -> ConsulDouble {
        let shared = Arc::new(Shared::default());
        shared.kv.lock().unwrap().index = 1;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind Consul double");
        let double = ConsulDouble {
            addr: listener.local_addr().expect("Consul double address"),
            shared,
            server: Mutex::new(None),
        };
        double.serve(listener);
        double
    }

    fn serve(&self, listener: TcpListener) {
        let shared = self.shared.clone();
        let handler = Arc::new(move |req: &Request, gate: &Gate| handle(&shared, req, gate));
        *self.server.lock().unwrap() = Some(HttpServer::start(listener, handler));
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Applies a write to the KV store and wakes the blocking queries.
    fn write(&self, f: impl FnOnce(&mut Kv, u64)) {
        let mut kv = self.shared.kv.lock().unwrap();
        kv.index += 1;
        let i = kv.index;
        f(&mut kv, i);
        drop(kv);
        if let Some(server) = self.server.lock().unwrap().as_ref() {
            server.notify();
        }
    }

    /// Stores `value` (raw; `""` is an empty value, served as `null`) under `key`.
    pub fn put(&self, key: &str, value: &str) {
        self.write(|kv, i| {
            let create = kv.entries.get(key).map_or(i, |e| e.1);
            let entry = (value.as_bytes().to_vec(), create, i);
            kv.entries.insert(key.to_string(), entry);
            kv.tombstones.remove(key);
        });
    }

    /// Deletes `key` (the prefix's index still increases: tombstone).
    pub fn delete(&self, key: &str) {
        self.write(|kv, i| {
            kv.entries.remove(key);
            kv.tombstones.insert(key.to_string(), i);
        });
    }

    /// Makes the index go backwards (like a snapshot restore): data kept, every index 1.
    pub fn reset_index(&self) {
        let mut kv = self.shared.kv.lock().unwrap();
        kv.index = 1;
        kv.tombstones.clear();
        for e in kv.entries.values_mut() {
            (e.1, e.2) = (1, 1);
        }
    }

    /// Makes every transaction wait `delay` before it is applied.
    pub fn delay_txn(&self, delay: Duration) {
        *self.shared.txn_delay.lock().unwrap() = delay;
    }

    /// The value stored under `key`, as text.
    pub fn value(&self, key: &str) -> Option<String> {
        let kv = self.shared.kv.lock().unwrap();
        kv.entries
            .get(key)
            .map(|e| String::from_utf8_lossy(&e.0).into_owned())
    }

    /// The current index of `prefix` (what `X-Consul-Index` would say).
    pub fn index(&self, prefix: &str) -> u64 {
        self.shared.kv.lock().unwrap().prefix_index(prefix)
    }

    /// Answer every KV request with 500 while on.
    pub fn fail_with_500(&self, on: bool) {
        self.shared.fail_500.store(on, SeqCst);
    }

    /// While on, requests are received but never answered (until the double stops).
    pub fn hang(&self, on: bool) {
        self.shared.hang.store(on, SeqCst);
    }

    /// While on, transactions that write a fleet node's status hang as [`hang`](Self::hang)
    /// does; everything else is answered.
    pub fn hang_status_writes(&self, on: bool) {
        self.shared.hang_status.store(on, SeqCst);
    }

    /// Require this `X-Consul-Token` (403 otherwise); `None` = no ACLs.
    pub fn require_token(&self, token: Option<&str>) {
        *self.shared.token.lock().unwrap() = token.map(str::to_string);
    }

    /// Stops listening and drops every open connection. The data is kept.
    pub fn stop(&self) {
        // Dropping the server closes the port and joins its threads.
        self.server.lock().unwrap().take();
    }

    /// Listens again on the same port after [`stop`](Self::stop).
    pub fn restart(&self) {
        let listener = TcpListener::bind(self.addr).expect("rebind Consul double");
        self.serve(listener);
    }

    /// Requests received so far (all methods).
    pub fn requests(&self) -> u64 {
        self.shared.requests.load(SeqCst)
    }

    /// Blocking queries waiting for a change right now.
    pub fn parked(&self) -> usize {
        self.shared.parked.load(SeqCst)
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

fn parse_query(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

fn reply(status: u16, index: Option<u64>, body: &[u8]) -> Option<Response> {
    let mut headers = vec![("Content-Type", "application/json".to_string())];
    headers.extend(index.map(|i| ("X-Consul-Index", i.to_string())));
    let body = body.to_vec();
    Some(Response {
        status,
        headers,
        body,
    })
}

fn handle(shared: &Shared, req: &Request, gate: &Gate) -> Option<Response> {
    shared.requests.fetch_add(1, SeqCst);
    if req.method == "GET" {
        shared.queries.lock().unwrap().push(req.query().to_string());
    }
    if shared.hang.load(SeqCst) {
        gate.wait(None, || false);
        return None;
    }
    if shared.fail_500.load(SeqCst) {
        return reply(500, None, b"injected failure");
    }
    let required = shared.token.lock().unwrap().clone();
    if required.is_some() && required.as_ref() != req.headers.get("x-consul-token") {
        return reply(403, None, b"ACL not found");
    }
    if req.path() == "/v1/txn" && req.method == "PUT" {
        if shared.hang_status.load(SeqCst)
            && String::from_utf8_lossy(&req.body).contains("/status/")
        {
            gate.wait(None, || false);
            return None;
        }
        let delay = *shared.txn_delay.lock().unwrap();
        std::thread::sleep(delay);
        let answer = txn(&mut shared.kv.lock().unwrap(), &req.body);
        gate.notify();
        return answer;
    }
    let Some(key) = req.path().strip_prefix("/v1/kv/") else {
        return reply(404, None, b"");
    };
    if req.method != "GET" {
        return reply(405, None, b""); // the test writes through `put` and `delete`
    }
    let q = parse_query(req.query());
    let wanted: u64 = q.get("index").and_then(|i| i.parse().ok()).unwrap_or(0);
    if wanted > 0 {
        let wait = q
            .get("wait")
            .and_then(|w| humantime::parse_duration(w).ok())
            .unwrap_or(Duration::from_secs(300))
            .min(Duration::from_secs(600));
        shared.parked.fetch_add(1, SeqCst);
        gate.wait(Some(wait), || {
            shared.kv.lock().unwrap().prefix_index(key) > wanted
        });
        shared.parked.fetch_sub(1, SeqCst);
        if gate.stopped() {
            return None;
        }
        // A failure injected while the query was parked applies to it too (else a query
        // parked before `fail_with_500` answers the change that woke it: a test race).
        if shared.fail_500.load(SeqCst) {
            return reply(500, None, b"injected failure");
        }
    }
    read(&shared.kv.lock().unwrap(), key, q.contains_key("recurse"))
}

/// `PUT /v1/txn`: every check first, then every write at one new index.
fn txn(kv: &mut Kv, body: &[u8]) -> Option<Response> {
    let Ok(ops) = serde_json::from_slice::<Vec<serde_json::Value>>(body) else {
        return reply(400, None, b"failed to parse transaction");
    };
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut errors = Vec::new();
    let mut writes = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        let kvop = &op["KV"];
        let (verb, key) = (
            kvop["Verb"].as_str().unwrap_or(""),
            kvop["Key"].as_str().unwrap_or(""),
        );
        let value = kvop["Value"]
            .as_str()
            .map(|v| base64::Engine::decode(&b64, v).unwrap_or_default());
        let current = kv.entries.get(key).map_or(0, |e| e.2);
        let wanted = kvop["Index"].as_u64().unwrap_or(0);
        match verb {
            "set" => writes.push((key.to_string(), Some(value.unwrap_or_default()))),
            "cas" | "delete-cas" if current != wanted => errors.push(serde_json::json!({
                "OpIndex": i,
                "What": format!("failed to {verb} key {key:?}, index is stale ({current} != {wanted})")
            })),
            "cas" => writes.push((key.to_string(), value)),
            "delete-cas" => writes.push((key.to_string(), None)),
            other => errors.push(serde_json::json!({"OpIndex": i, "What": format!("unknown verb {other}")})),
        }
    }
    if !errors.is_empty() {
        let body = serde_json::json!({"Results": null, "Errors": errors});
        return reply(409, None, body.to_string().as_bytes());
    }
    kv.index += 1;
    let i = kv.index;
    for (key, value) in writes {
        match value {
            Some(v) => {
                let create = kv.entries.get(&key).map_or(i, |e| e.1);
                kv.entries.insert(key.clone(), (v, create, i));
                kv.tombstones.remove(&key);
            }
            None => {
                kv.entries.remove(&key);
                kv.tombstones.insert(key, i);
            }
        }
    }
    reply(200, Some(i), br#"{"Results":[],"Errors":null}"#)
}

fn read(kv: &Kv, key: &str, recurse: bool) -> Option<Response> {
    let index = kv.prefix_index(key);
    let items: Vec<serde_json::Value> = kv
        .entries
        .iter()
        .filter(|(k, _)| {
            if recurse {
                k.starts_with(key)
            } else {
                *k == key
            }
        })
        .map(|(k, (v, c, m))| {
            let value = match v.is_empty() {
                true => serde_json::Value::Null,
                false => {
                    base64::Engine::encode(&base64::engine::general_purpose::STANDARD, v).into()
                }
            };
            serde_json::json!({"Key": k, "Value": value, "CreateIndex": c, "ModifyIndex": m,
                               "LockIndex": 0, "Flags": 0})
        })
        .collect();
    if items.is_empty() {
        return reply(404, Some(index), b"");
    }
    reply(200, Some(index), &serde_json::to_vec(&items).unwrap())
}
