//! Benchmark baseline, not part of edgeproxy: the smallest Pingora 0.9 HTTP proxy (one
//! upstream, keep-alive pool, no plugins, no routing; the forwarding headers only with
//! `headers`), to split the gap between edgeproxy and nginx into "Pingora itself" and "what
//! edgeproxy adds". It runs as edgeproxy does with `threads = 1`: one worker on a
//! single-thread runtime (`work_stealing = false`) and jemalloc with the same options, so
//! the comparison measures our layer, not a runtime flavour or an allocator.
//!
//!   cargo build --release --example pingora_baseline
//!   pingora_baseline LISTEN_ADDR BACKEND_ADDR [headers]   # e.g. 127.0.0.1:9000 127.0.0.1:9001
//!
//! With `headers` it also does the rest of the benchmark's proxy job, written the plain way:
//! `X-Forwarded-For`, `X-Real-IP` and `X-Request-Id` on the upstream request (edgeproxy and
//! nginx set those three). One worker thread, like `[server] threads = 1`. Used by
//! `bench/bench.py --baseline` and `bench/instr.py`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::{Opt, ServerConf};

#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// The same jemalloc options as the `edgeproxy` binary (cli/src/main.rs).
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: Option<&'static u8> = Some(&b"tcache_max:131072\0"[0]);

struct Baseline {
    backend: String,
    headers: bool,
    nonce: u32,
    counter: AtomicU64,
}

#[async_trait]
impl ProxyHttp for Baseline {
    type CTX = ();

    fn new_ctx(&self) {}

    async fn upstream_peer(&self, _s: &mut Session, _ctx: &mut ()) -> Result<Box<HttpPeer>> {
        let mut peer = HttpPeer::new(self.backend.as_str(), false, String::new());
        peer.options.idle_timeout = Some(Duration::from_secs(120));
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 || args.len() > 4 || (args.len() == 4 && args[3] != "headers") {
        eprintln!("usage: {} LISTEN_ADDR BACKEND_ADDR [headers]", args[0]);
        std::process::exit(2);
    }
    let conf = ServerConf {
        threads: 1,
        work_stealing: false,
        pid_file: format!("/tmp/pingora_baseline.{}.pid", std::process::id()),
        upgrade_sock: format!("/tmp/pingora_baseline.{}.sock", std::process::id()),
        ..ServerConf::default()
    };
    let mut server = Server::new_with_opt_and_conf(Opt::default(), conf);
    server.bootstrap();
    let mut svc = http_proxy_service(
        &server.configuration,
        Baseline {
            backend: args[2].clone(),
            headers: args.len() == 4,
            nonce: std::process::id(),
            counter: AtomicU64::new(0),
        },
    );
    svc.add_tcp(&args[1]);
    server.add_service(svc);
    server.run_forever();
}
