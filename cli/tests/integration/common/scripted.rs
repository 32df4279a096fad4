//! An origin for cache tests: each path answers what the test scripts (status, headers,
//! body, changeable at any time), a conditional GET whose `If-None-Match` matches the
//! scripted `ETag` gets a 304 with the scripted headers, and every request is recorded so
//! tests count the origin's fetches.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::edge::ANY_PORT;
use super::http::{Gate, HttpServer, Request, Response};

/// A config with one listener whose routes are `/purge` (the `cache-purge` admin plugin),
/// `/metrics`, and every other path proxied to `origin` and cached in `[caches.main]`, which `caches` (TOML:
/// `[caches.main]` and its sub-tables) defines.
pub fn cached_config(origin: SocketAddr, caches: &str) -> String {
    format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

{caches}

[[servers]]
listen = ["{ANY_PORT}"]

[[servers.routes]]
path = "/purge"
plugins = [{{ name = "cache-purge" }}]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]

[[servers.routes]]
path_prefix = "/"
upstream = "origin"
cache = {{ use = "main" }}
"#
    )
}

/// One scripted answer.
#[derive(Clone)]
struct Answer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: Arc<Vec<u8>>,
}

#[derive(Default)]
struct State {
    answers: Mutex<BTreeMap<String, Answer>>,
    seen: Mutex<Vec<Request>>,
    delay: Mutex<Duration>,
}

/// The scripted origin; stopped on `Drop`.
pub struct ScriptedOrigin {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    _server: HttpServer,
}

impl ScriptedOrigin {
    /// Starts on a free loopback port; unscripted paths answer 404.
    pub fn start() -> ScriptedOrigin {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind origin");
        let addr = listener.local_addr().expect("origin address");
        let state = Arc::new(State::default());
        let st = state.clone();
        let handler = Arc::new(move |req: &Request, gate: &Gate| Some(answer(&st, req, gate)));
        ScriptedOrigin {
            addr,
            state,
            _server: HttpServer::start(listener, handler),
        }
    }

    /// From now on `path` answers `status` with `headers` and `body`.
    pub fn script(&self, path: &str, status: u16, headers: &[(&'static str, &str)], body: &str) {
        self.script_bytes(path, status, headers, body.as_bytes().to_vec());
    }

    /// [`script`](Self::script) with a binary (or large) body.
    pub fn script_bytes(
        &self,
        path: &str,
        status: u16,
        headers: &[(&'static str, &str)],
        body: Vec<u8>,
    ) {
        let answer = Answer {
            status,
            headers: headers.iter().map(|(k, v)| (*k, v.to_string())).collect(),
            body: Arc::new(body),
        };
        self.state
            .answers
            .lock()
            .unwrap()
            .insert(path.into(), answer);
    }

    /// Waits `delay` before every answer from now on.
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// Requests for `path` (query ignored) received so far.
    pub fn requests(&self, path: &str) -> Vec<Request> {
        let seen = self.state.seen.lock().unwrap();
        seen.iter().filter(|r| r.path() == path).cloned().collect()
    }

    /// How many requests for `path` arrived.
    pub fn hits(&self, path: &str) -> usize {
        self.requests(path).len()
    }
}

fn answer(state: &State, req: &Request, gate: &Gate) -> Response {
    state.seen.lock().unwrap().push(req.clone());
    let delay = *state.delay.lock().unwrap();
    if !delay.is_zero() {
        gate.wait(Some(delay), || false);
    }
    let Some(a) = state.answers.lock().unwrap().get(req.path()).cloned() else {
        return Response {
            status: 404,
            headers: vec![("cache-control", "no-store".into())],
            body: b"not scripted\n".to_vec(),
        };
    };
    let etag = a
        .headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("etag"));
    let matches = match (etag, req.headers.get("if-none-match")) {
        (Some((_, tag)), Some(inm)) => inm.split(',').any(|t| t.trim() == tag),
        _ => false,
    };
    if matches && req.method == "GET" {
        return Response {
            status: 304,
            headers: a.headers.clone(),
            body: Vec::new(),
        };
    }
    Response {
        status: a.status,
        headers: a.headers.clone(),
        body: a.body.to_vec(),
    }
}
