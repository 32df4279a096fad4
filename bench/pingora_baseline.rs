//! Benchmark baseline, not part of edgeproxy: the smallest Pingora 0.9 HTTP proxy (one
//! upstream, keep-alive pool, no plugins, no routing, no extra headers), to split the gap
//! between edgeproxy and nginx into "Pingora itself" and "what edgeproxy adds".
//!
//!   cargo build --release --example pingora_baseline
//!   pingora_baseline LISTEN_ADDR BACKEND_ADDR        # e.g. 127.0.0.1:9000 127.0.0.1:9001
//!
//! One worker thread, like `[server] threads = 1`. Used by `bench/bench.py --baseline`.

use std::time::Duration;

use async_trait::async_trait;
use pingora::prelude::*;
use pingora::server::configuration::{Opt, ServerConf};

struct Baseline {
    backend: String,
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
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: {} LISTEN_ADDR BACKEND_ADDR", args[0]);
        std::process::exit(2);
    }
    let conf = ServerConf {
        threads: 1,
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
        },
    );
    svc.add_tcp(&args[1]);
    server.add_service(svc);
    server.run_forever();
}
