//! Benchmark baseline, not part of edgeproxy: the smallest Pingora 0.9 HTTP proxy (one
//! upstream, keep-alive pool, no plugins, no routing; the forwarding headers only with
//! `headers`), to split the gap between edgeproxy and nginx into "Pingora itself" and "what
//! edgeproxy adds". It runs as edgeproxy does with `threads = 1`: one worker on a
//! single-thread runtime (`work_stealing = false`) and jemalloc with the same options, so
//! the comparison measures our layer, not a runtime flavour or an allocator.
//!
//!   cargo build --release --example pingora_baseline
//!   pingora_baseline LISTEN_ADDR BACKEND_ADDR [headers] [timeouts] [respond]
//!   # e.g. pingora_baseline 127.0.0.1:9000 127.0.0.1:9001 headers
//!
//! With `headers` it also does the rest of the benchmark's proxy job, written the plain way:
//! `X-Forwarded-For`, `X-Real-IP` and `X-Request-Id` on the upstream request (edgeproxy and
//! nginx set those three). With `timeouts` the upstream exchange gets the deadlines
//! edgeproxy's defaults give it (connect 5 s, read and write 60 s, keep-alive 60 s on the
//! client side): each deadline is a Pingora timer registered while a read waits, so this is
//! the same job with the same safety. With `respond` it answers every request itself with
//! a fixed 32-byte body (the local-response floor, edgeproxy's `respond` plugin) and never
//! contacts BACKEND_ADDR. With `respond session` that answer is written by an app on
//! pingora-core's HTTP session alone (`HttpServerApp`), without pingora-proxy's per-request
//! machinery: the floor of a local answer on Pingora's public API. One worker thread, like
//! `[server] threads = 1`. Used by `bench/bench.py --baseline` and `bench/instr.py`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use std::sync::Arc;

use async_trait::async_trait;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::prelude::*;
use pingora::protocols::http::ServerSession;
use pingora::server::configuration::{Opt, ServerConf};
use pingora::server::ShutdownWatch;
use pingora::services::listening::Service;

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The same jemalloc options as the `edgeproxy` binary (cli/src/main.rs).
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: Option<&'static u8> = Some(&b"tcache_max:131072\0"[0]);

struct Baseline {
    backend: String,
    headers: bool,
    timeouts: bool,
    respond: bool,
    nonce: u32,
    counter: AtomicU64,
}

#[async_trait]
impl ProxyHttp for Baseline {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn request_filter(&self, session: &mut Session, _ctx: &mut ()) -> Result<bool> {
        if self.timeouts {
            session.set_keepalive(Some(60));
        }
        if !self.respond {
            return Ok(false);
        }
        let mut resp = ResponseHeader::build(200, Some(2))?;
        resp.insert_header("Content-Type", "text/plain")?;
        resp.insert_header("Content-Length", "32")?;
        session.write_response_header(Box::new(resp), false).await?;
        session
            .write_response_body(Some(bytes::Bytes::from_static(BODY)), true)
            .await?;
        Ok(true)
    }

    async fn upstream_peer(&self, _s: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.backend.as_str(), false, String::new());
        peer.options.idle_timeout = Some(Duration::from_secs(120));
        if self.timeouts {
            peer.options.connection_timeout = Some(Duration::from_secs(5));
            peer.options.read_timeout = Some(Duration::from_secs(60));
            peer.options.write_timeout = Some(Duration::from_secs(60));
        }
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        session: &mut Session,
        req: &mut RequestHeader,
        _ctx: &mut (),
    ) -> Result<()> {
        if !self.headers {
            return Ok(());
        }
        let ip = match session.client_addr().and_then(|a| a.as_inet()) {
            Some(a) => a.ip().to_string(),
            None => String::new(),
        };
        let xff = match req
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
        {
            Some(prev) => format!("{prev}, {ip}"),
            None => ip.clone(),
        };
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        req.insert_header("X-Forwarded-For", xff)?;
        req.insert_header("X-Real-IP", ip)?;
        req.insert_header("X-Request-Id", format!("{:08x}{:012x}", self.nonce, n))?;
        Ok(())
    }
}

/// The `respond session` app: reads a request and answers it on pingora-core's session.
struct SessionRespond;

#[async_trait]
impl HttpServerApp for SessionRespond {
    async fn process_new_http(
        self: &Arc<Self>,
        mut session: ServerSession,
        _shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        if !session.read_request().await.ok()? {
            return None;
        }
        session.set_keepalive(Some(60));
        let mut resp = ResponseHeader::build(200, Some(2)).ok()?;
        resp.insert_header("Content-Type", "text/plain").ok()?;
        resp.insert_header("Content-Length", "32").ok()?;
        session.write_response_header(Box::new(resp)).await.ok()?;
        let body = bytes::Bytes::from_static(BODY);
        session.write_response_body(body, true).await.ok()?;
        let settings = HttpPersistentSettings::for_session(&session);
        let reuse = session.finish().await.ok()??;
        Some(ReusedHttpStream::from_reusable_stream(reuse, settings))
    }
}

/// The fixed answer of `respond` (32 bytes, as edgeproxy's bench `respond` plugin).
const BODY: &[u8; 32] = b"hello from the pingora baseline\n";

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let flags = args.get(3..).unwrap_or_default();
    if args.len() < 3
        || flags
            .iter()
            .any(|f| !["headers", "timeouts", "respond", "session"].contains(&f.as_str()))
    {
        eprintln!(
            "usage: {} LISTEN_ADDR BACKEND_ADDR [headers] [timeouts] [respond [session]]",
            args[0]
        );
        std::process::exit(2);
    }
    let has = |f: &str| flags.iter().any(|x| x == f);
    let conf = ServerConf {
        threads: 1,
        work_stealing: false,
        pid_file: format!("/tmp/pingora_baseline.{}.pid", std::process::id()),
        upgrade_sock: format!("/tmp/pingora_baseline.{}.sock", std::process::id()),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    if has("session") {
        let mut svc = Service::new("session respond".to_string(), SessionRespond);
        svc.add_tcp(&args[1]);
        server.add_service(svc);
        server.run_forever();
    }
    let mut svc = http_proxy_service(
        &server.configuration,
        Baseline {
            backend: args[2].clone(),
            headers: has("headers"),
            timeouts: has("timeouts"),
            respond: has("respond"),
            nonce: std::process::id(),
            counter: AtomicU64::new(0),
        },
    );
    svc.add_tcp(&args[1]);
    server.add_service(svc);
    server.run_forever();
}
