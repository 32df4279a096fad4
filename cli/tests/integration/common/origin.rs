//! The origin double: a real HTTP/1.1 server on `127.0.0.1:0` that records every request
//! and answers from fixed routes or a body template, optionally late or never.
//!
//! ```ignore
//! let origin = Origin::builder().status(404).route("/p/1", 200, "{}").start();
//! ```

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::http::{Gate, HttpServer, Request, Response};

/// Default body: names the origin (by port) and echoes the request target.
const ECHO: &str = "origin {port} {target}\n";

/// Extra response headers of a fixed route (replacing the default ones of the same name).
type Headers = Vec<(&'static str, String)>;

#[derive(Clone)]
struct Behaviour {
    status: u16,
    routes: BTreeMap<String, (u16, String, Headers)>,
    delay: Duration,
    template: String,
    version: u64,
}

/// Configures an [`Origin`] before it starts; the same settings can change later through
/// the `set_*` methods of the running origin.
pub struct OriginBuilder(Behaviour);

impl OriginBuilder {
    /// Status of answers from the template (default 200).
    pub fn status(mut self, status: u16) -> Self {
        self.0.status = status;
        self
    }

    /// A fixed answer for `path` (query ignored).
    pub fn route(self, path: &str, status: u16, body: &str) -> Self {
        self.route_with(path, status, &[], body)
    }

    /// A fixed answer for `path` with extra headers (e.g. `Content-Type`, `ETag`,
    /// `Content-Encoding`), which replace the default ones of the same name.
    pub fn route_with(
        mut self,
        path: &str,
        status: u16,
        headers: &[(&'static str, &str)],
        body: &str,
    ) -> Self {
        let headers = headers.iter().map(|(k, v)| (*k, v.to_string())).collect();
        self.0
            .routes
            .insert(path.into(), (status, body.into(), headers));
        self
    }

    /// Waits `delay` before every answer.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.0.delay = delay;
        self
    }

    /// Accepts and reads requests but never answers them (until stopped).
    pub fn hang(self) -> Self {
        self.delay(Duration::MAX)
    }

    /// Body of answers that no route fixes: `{port}`, `{target}` and `{version}` are
    /// filled in. Default: `origin {port} {target}\n`.
    pub fn template(mut self, template: &str) -> Self {
        self.0.template = template.into();
        self
    }

    /// Starts the origin on a free loopback port.
    pub fn start(self) -> Origin {
        self.start_at(SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Starts the origin on `addr` (e.g. a port an edge was told about before anything
    /// listened there).
    pub fn start_at(self, addr: SocketAddr) -> Origin {
        let listener = TcpListener::bind(addr).expect("bind origin");
        let addr = listener.local_addr().expect("origin address");
        let state = Arc::new(State {
            behaviour: Mutex::new(self.0),
            seen: Mutex::new(Vec::new()),
        });
        let st = state.clone();
        let handler = Arc::new(move |req: &Request, gate: &Gate| answer(&st, addr, req, gate));
        let server = HttpServer::start(listener, handler);
        Origin {
            addr,
            state,
            server,
        }
    }
}

struct State {
    behaviour: Mutex<Behaviour>,
    seen: Mutex<Vec<Request>>,
}

/// A running origin; stopped on `Drop`.
pub struct Origin {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    server: HttpServer,
}

impl Origin {
    /// A builder with the defaults: 200 with `origin {port} {target}\n`, no delay.
    pub fn builder() -> OriginBuilder {
        OriginBuilder(Behaviour {
            status: 200,
            routes: BTreeMap::new(),
            delay: Duration::ZERO,
            template: ECHO.into(),
            version: 0,
        })
    }

    /// Starts an origin with the defaults.
    pub fn start() -> Origin {
        Origin::builder().start()
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.state.seen.lock().unwrap().len()
    }

    /// Requests received so far for exactly `target` (path and query).
    pub fn hits_for(&self, target: &str) -> usize {
        let seen = self.state.seen.lock().unwrap();
        seen.iter().filter(|r| r.target == target).count()
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Request> {
        self.state.seen.lock().unwrap().clone()
    }

    /// The body the template gives `target` now.
    pub fn body(&self, target: &str) -> String {
        render(&self.state.behaviour.lock().unwrap(), self.addr, target)
    }

    /// See [`OriginBuilder::status`].
    pub fn set_status(&self, status: u16) {
        self.state.behaviour.lock().unwrap().status = status;
    }

    /// See [`OriginBuilder::route`].
    pub fn set_route(&self, path: &str, status: u16, body: &str) {
        let mut b = self.state.behaviour.lock().unwrap();
        b.routes
            .insert(path.into(), (status, body.into(), Vec::new()));
    }

    /// See [`OriginBuilder::delay`].
    pub fn set_delay(&self, delay: Duration) {
        self.state.behaviour.lock().unwrap().delay = delay;
    }

    /// Sets the `{version}` of the template.
    pub fn set_version(&self, version: u64) {
        self.state.behaviour.lock().unwrap().version = version;
    }

    /// Stops listening and closes every connection.
    pub fn stop(&mut self) {
        self.server.stop();
    }
}

fn render(b: &Behaviour, addr: SocketAddr, target: &str) -> String {
    b.template
        .replace("{port}", &addr.port().to_string())
        .replace("{version}", &b.version.to_string())
        .replace("{target}", target)
}

fn answer(state: &State, addr: SocketAddr, req: &Request, gate: &Gate) -> Option<Response> {
    state.seen.lock().unwrap().push(req.clone());
    let delay = state.behaviour.lock().unwrap().delay;
    if !delay.is_zero() {
        gate.wait(Some(delay), || false);
        if gate.stopped() {
            return None;
        }
    }
    let b = state.behaviour.lock().unwrap();
    let (status, body, extra) = match b.routes.get(req.path()) {
        Some((status, body, extra)) => (*status, body.clone(), extra.clone()),
        None => (b.status, render(&b, addr, &req.target), Vec::new()),
    };
    let mut headers: Headers = vec![
        ("Content-Type", "text/plain".into()),
        ("X-Origin-Port", addr.port().to_string()),
    ];
    headers.retain(|(k, _)| !extra.iter().any(|(e, _)| e.eq_ignore_ascii_case(k)));
    headers.extend(extra);
    Some(Response {
        status,
        headers,
        body: body.into_bytes(),
    })
}
