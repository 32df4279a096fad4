//! Phase semantics, in-process with recording plugins on the library server:
//! order rewrite → access → content → proxy; a `Respond` stops later request phases but
//! header_filter, body_filter and log still run; log runs exactly once for every request.
//! Every test runs twice: over HTTP/1.1 and over HTTP/2 (h2c), with the same expectations.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use crate::common::origin::Origin;
use crate::common::{client, free_port, wait_until};
use async_trait::async_trait;
use bytes::Bytes;
use edgeproxy::plugin_api::{
    BoxError, Flow, LogEntry, Plugin, PluginFactory, Registry, RequestCtx, Response, Shared,
};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::server::{RunArgs, ShutdownSignal, ShutdownSignalWatch};
use serde::Deserialize;

/// Events per test id (`x-test-id` header).
static EVENTS: OnceLock<Mutex<BTreeMap<String, Vec<String>>>> = OnceLock::new();

fn record(ctx: &RequestCtx, event: String) {
    let id = ctx
        .extensions
        .get::<TestId>()
        .map(|t| t.0.clone())
        .unwrap_or_else(|| "?".into());
    EVENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .entry(id)
        .or_default()
        .push(event);
}

fn events(id: &str) -> Vec<String> {
    EVENTS
        .get_or_init(Default::default)
        .lock()
        .unwrap()
        .get(id)
        .cloned()
        .unwrap_or_default()
}

#[derive(Clone)]
struct TestId(String);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TraceConfig {
    tag: String,
    #[serde(default)]
    respond_in: Option<String>,
    #[serde(default)]
    fail_in: Option<String>,
}

struct Trace(TraceConfig);

impl PluginFactory for Trace {
    const NAME: &'static str = "trace";
    type Config = TraceConfig;
    fn build(cfg: TraceConfig, _: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        Ok(Arc::new(Trace(cfg)))
    }
}

impl Trace {
    fn step(&self, phase: &str, ctx: &RequestCtx) -> Result<Option<Response>, BoxError> {
        record(ctx, format!("{phase}:{}", self.0.tag));
        if self.0.fail_in.as_deref() == Some(phase) {
            return Err(format!("{} failed on purpose", self.0.tag).into());
        }
        if self.0.respond_in.as_deref() == Some(phase) {
            return Ok(Some(Response::text(
                403,
                format!("denied by {}\n", self.0.tag),
            )?));
        }
        Ok(None)
    }
}

#[async_trait]
impl Plugin for Trace {
    async fn rewrite(
        &self,
        req: &mut RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<Flow, BoxError> {
        if ctx.extensions.get::<TestId>().is_none() {
            if let Some(id) = req.headers.get("x-test-id").and_then(|v| v.to_str().ok()) {
                ctx.extensions.insert(TestId(id.to_string()));
            }
        }
        Ok(self
            .step("rewrite", ctx)?
            .map_or(Flow::Continue, Flow::Respond))
    }
    async fn access(&self, _req: &RequestHeader, ctx: &mut RequestCtx) -> Result<Flow, BoxError> {
        Ok(self
            .step("access", ctx)?
            .map_or(Flow::Continue, Flow::Respond))
    }
    async fn content(
        &self,
        _req: &RequestHeader,
        ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        self.step("content", ctx)
    }
    fn header_filter(
        &self,
        resp: &mut ResponseHeader,
        ctx: &mut RequestCtx,
    ) -> Result<(), BoxError> {
        record(ctx, format!("header_filter:{}", self.0.tag));
        if self.0.fail_in.as_deref() == Some("header_filter") {
            return Err(format!("{} failed on purpose", self.0.tag).into());
        }
        resp.append_header("x-trace", self.0.tag.as_str())?;
        Ok(())
    }
    fn body_filter(
        &self,
        body: &mut Option<Bytes>,
        eos: bool,
        ctx: &mut RequestCtx,
    ) -> Result<(), BoxError> {
        if eos {
            record(ctx, format!("body_filter_eos:{}", self.0.tag));
        }
        if self.0.fail_in.as_deref() == Some("body_filter") && body.is_some() {
            return Err(format!("{} failed on purpose", self.0.tag).into());
        }
        Ok(())
    }
    async fn log(&self, entry: &LogEntry<'_>, ctx: &RequestCtx) {
        record(ctx, format!("log:{}:{}", self.0.tag, entry.status));
    }
}

struct Env {
    addr: SocketAddr,
    h2c: SocketAddr,
    _origin: Origin,
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let origin = Origin::start();
        let (port, h2c) = (0, 0);
        let dead = free_port();
        let cfg = format!(
            r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]
[upstreams.dead]
servers = [{{ addr = "127.0.0.1:{dead}" }}]
retries = 0

[[servers]]
name = "phases"
listen = ["127.0.0.1:{port}", {{ addr = "127.0.0.1:{h2c}", http2 = true }}]
plugins = [{{ name = "trace", config = {{ tag = "S" }} }}]

[[servers.routes]]
path = "/proxy"
upstream = "origin"
plugins = [{{ name = "trace", config = {{ tag = "A" }} }}, {{ name = "trace", config = {{ tag = "B" }} }}]

[[servers.routes]]
path = "/deny"
upstream = "origin"
plugins = [{{ name = "trace", config = {{ tag = "A", respond_in = "access" }} }}, {{ name = "trace", config = {{ tag = "B" }} }}]

[[servers.routes]]
path = "/fail"
plugins = [{{ name = "trace", config = {{ tag = "A", fail_in = "content" }} }}]

[[servers.routes]]
path = "/hf-proxy"
upstream = "origin"
plugins = [{{ name = "trace", config = {{ tag = "A", fail_in = "header_filter" }} }}, {{ name = "trace", config = {{ tag = "B" }} }}]

[[servers.routes]]
path = "/hf-local"
plugins = [{{ name = "trace", config = {{ tag = "A", respond_in = "access", fail_in = "header_filter" }} }}, {{ name = "trace", config = {{ tag = "B" }} }}]

[[servers.routes]]
path = "/bf-proxy"
upstream = "origin"
plugins = [{{ name = "trace", config = {{ tag = "A", fail_in = "body_filter" }} }}]

[[servers.routes]]
path = "/bf-local"
plugins = [{{ name = "trace", config = {{ tag = "A", respond_in = "access", fail_in = "body_filter" }} }}]

[[servers.routes]]
path = "/down"
upstream = "dead"
plugins = [{{ name = "trace", config = {{ tag = "A" }} }}]
"#,
            origin = origin.addr
        );
        let mut registry = Registry::new();
        registry.register::<Trace>();
        let config = edgeproxy::assembly::load_str(Path::new("phases.toml"), cfg, &registry, false)
            .unwrap_or_else(|d| panic!("{d}"));
        // Bound (and listening) here, on ports the OS picks; requests wait in the backlog
        // until the server runs.
        let bound = edgeproxy::server::bind(&config, Default::default()).unwrap();
        let [addr, h2c] = bound.addrs().collect::<Vec<_>>()[..] else {
            panic!("two listeners expected: {bound}");
        };
        std::thread::spawn(move || {
            let source =
                edgeproxy::generation::Source::file(Path::new("phases.toml").to_path_buf(), None);
            let (server, _world) =
                edgeproxy::server::build_on(config, registry, source, bound, Default::default())
                    .unwrap();
            let shutdown_signal = Box::new(NoSignals);
            server.run(RunArgs { shutdown_signal });
        });
        Env {
            addr,
            h2c,
            _origin: origin,
        }
    })
}

/// Never asks the in-process server to stop: it lives as long as the test process, whose
/// signals keep their default actions (Pingora's default watch would catch SIGINT, SIGTERM
/// and SIGQUIT for the whole suite).
struct NoSignals;

#[async_trait]
impl ShutdownSignalWatch for NoSignals {
    async fn recv(&self) -> ShutdownSignal {
        std::future::pending().await
    }
}

/// The protocol a test runs over: every test here runs over both (HTTP/2 as h2c).
#[derive(Debug, Clone, Copy)]
pub enum Proto {
    H1,
    H2,
}

impl Proto {
    fn client(self) -> reqwest::blocking::Client {
        match self {
            Proto::H1 => client(),
            Proto::H2 => reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(10))
                .http2_prior_knowledge()
                .build()
                .unwrap(),
        }
    }

    fn addr(self) -> SocketAddr {
        match self {
            Proto::H1 => env().addr,
            Proto::H2 => env().h2c,
        }
    }

    /// The test id of this run (the trace events of the two protocols kept apart).
    fn id(self, id: &str) -> String {
        format!("{id}-{self:?}")
    }
}

fn get(p: Proto, path: &str, id: &str) -> reqwest::blocking::Response {
    let resp = p
        .client()
        .get(format!("http://{}{path}", p.addr()))
        .header("x-test-id", p.id(id))
        .send()
        .unwrap();
    let want = match p {
        Proto::H1 => reqwest::Version::HTTP_11,
        Proto::H2 => reqwest::Version::HTTP_2,
    };
    assert_eq!(resp.version(), want);
    resp
}

/// Log runs asynchronously after the response is sent: wait for it, then check it ran once.
fn wait_logged(p: Proto, id: &str, expect: usize) -> Vec<String> {
    let id = &p.id(id);
    let what = format!("{expect} log events of {id}");
    wait_until(&what, Duration::from_secs(5), || {
        events(id).iter().filter(|e| e.starts_with("log:")).count() >= expect
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", events(id)));
    events(id)
}

fn proxied_request_runs_every_phase_in_order_and_logs_once(p: Proto) {
    let resp = get(p, "/proxy", "t1");
    assert_eq!(resp.status(), 200);
    let trace: Vec<_> = resp
        .headers()
        .get_all("x-trace")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .collect();
    assert_eq!(trace, ["S", "A", "B"]);
    assert!(resp.text().unwrap().starts_with("origin "));
    let ev = wait_logged(p, "t1", 3);
    assert_eq!(
        ev,
        [
            "rewrite:S",
            "rewrite:A",
            "rewrite:B",
            "access:S",
            "access:A",
            "access:B",
            "content:S",
            "content:A",
            "content:B",
            "header_filter:S",
            "header_filter:A",
            "header_filter:B",
            "body_filter_eos:S",
            "body_filter_eos:A",
            "body_filter_eos:B",
            "log:S:200",
            "log:A:200",
            "log:B:200"
        ]
    );
}

fn respond_in_access_skips_content_but_filters_and_log_still_run(p: Proto) {
    let resp = get(p, "/deny", "t2");
    assert_eq!(resp.status(), 403);
    assert_eq!(resp.headers().get_all("x-trace").iter().count(), 3);
    assert_eq!(resp.text().unwrap(), "denied by A\n");
    let ev = wait_logged(p, "t2", 3);
    assert!(!ev.iter().any(|e| e.starts_with("content:")), "{ev:?}");
    assert!(!ev.contains(&"access:B".to_string()), "{ev:?}");
    for e in [
        "header_filter:B",
        "body_filter_eos:B",
        "log:S:403",
        "log:A:403",
        "log:B:403",
    ] {
        assert!(ev.contains(&e.to_string()), "missing {e}: {ev:?}");
    }
}

fn plugin_error_is_a_500_with_request_id_and_logs_once(p: Proto) {
    let resp = get(p, "/fail", "t3");
    assert_eq!(resp.status(), 500);
    let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
    let body = resp.text().unwrap();
    assert!(body.contains(&format!("request id: {rid}")), "{body}");
    let ev = wait_logged(p, "t3", 2);
    assert_eq!(ev.iter().filter(|e| *e == "log:A:500").count(), 1, "{ev:?}");
    assert_eq!(ev.iter().filter(|e| *e == "log:S:500").count(), 1, "{ev:?}");
    assert!(ev.contains(&"header_filter:A".to_string()), "{ev:?}");
}

fn upstream_down_is_a_502_that_runs_filters_and_logs_once(p: Proto) {
    let resp = get(p, "/down", "t4");
    assert_eq!(resp.status(), 502);
    assert_eq!(resp.headers().get_all("x-trace").iter().count(), 2);
    assert!(resp.text().unwrap().contains("502"));
    let ev = wait_logged(p, "t4", 2);
    assert_eq!(
        ev.iter().filter(|e| e.starts_with("log:")).count(),
        2,
        "{ev:?}"
    );
    assert!(ev.contains(&"log:A:502".to_string()), "{ev:?}");
}

fn unrouted_request_runs_server_plugins_and_logs_once(p: Proto) {
    let resp = get(p, "/nowhere", "t5");
    assert_eq!(resp.status(), 404);
    assert_eq!(resp.headers().get_all("x-trace").iter().count(), 1);
    let ev = wait_logged(p, "t5", 1);
    assert_eq!(
        ev.iter().filter(|e| e.starts_with("log:")).count(),
        1,
        "{ev:?}"
    );
    assert!(ev.contains(&"log:S:404".to_string()), "{ev:?}");
}

/// A failing header filter turns the response into the same 500 whether it was proxied or
/// produced locally: the request id in the body, the filters not run again on the 500
/// (no `x-trace` from a later plugin), and the log phase once.
fn failing_header_filter_is_the_same_500_for_proxied_and_local_responses(p: Proto) {
    for (path, id) in [("/hf-proxy", "t6"), ("/hf-local", "t7")] {
        let resp = get(p, path, id);
        assert_eq!(resp.status(), 500, "{path}");
        assert_eq!(
            resp.headers().get_all("x-trace").iter().count(),
            0,
            "{path}"
        );
        let rid = resp.headers()["x-request-id"].to_str().unwrap().to_string();
        let body = resp.text().unwrap();
        assert!(
            body.starts_with("500 internal error in a response plugin"),
            "{path}: {body}"
        );
        assert!(
            body.contains(&format!("request id: {rid}")),
            "{path}: {body}"
        );
        let ev = wait_logged(p, id, 3);
        assert!(
            !ev.contains(&"header_filter:B".to_string()),
            "{path}: {ev:?}"
        );
        assert_eq!(
            ev.iter().filter(|e| *e == "log:A:500").count(),
            1,
            "{path}: {ev:?}"
        );
    }
}

/// A failing body filter: a local response (nothing sent yet) becomes the 500; a proxied
/// one, whose header is already sent, is cut short — the client never gets a complete body.
fn failing_body_filter_never_delivers_the_unfiltered_body(p: Proto) {
    let resp = get(p, "/bf-local", "t8");
    assert_eq!(resp.status(), 500);
    assert!(resp
        .text()
        .unwrap()
        .starts_with("500 internal error in a response plugin"));
    let proxied = p
        .client()
        .get(format!("http://{}/bf-proxy", p.addr()))
        .header("x-test-id", p.id("t9"))
        .send()
        .and_then(|r| r.text());
    match proxied {
        Err(_) => {}
        Ok(body) => assert!(
            !body.starts_with("origin "),
            "unfiltered body delivered: {body}"
        ),
    }
    let ev = wait_logged(p, "t9", 1);
    assert_eq!(
        ev.iter().filter(|e| e.starts_with("log:A")).count(),
        1,
        "{ev:?}"
    );
}

/// Each test above, once over HTTP/1.1 and once over HTTP/2.
macro_rules! over_http1_and_http2 {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[test]
                fn http1() {
                    super::$name(super::Proto::H1)
                }
                #[test]
                fn http2() {
                    super::$name(super::Proto::H2)
                }
            }
        )*
    };
}

over_http1_and_http2!(
    proxied_request_runs_every_phase_in_order_and_logs_once,
    respond_in_access_skips_content_but_filters_and_log_still_run,
    plugin_error_is_a_500_with_request_id_and_logs_once,
    upstream_down_is_a_502_that_runs_filters_and_logs_once,
    unrouted_request_runs_server_plugins_and_logs_once,
    failing_header_filter_is_the_same_500_for_proxied_and_local_responses,
    failing_body_filter_never_delivers_the_unfiltered_body
);
