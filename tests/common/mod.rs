//! The test harness: real servers and doubles, each started by one builder or constructor,
//! cleaned up on `Drop` (processes killed, threads joined, temp dirs removed), listening on
//! port 0 where we own the server, and awaited by conditions with deadlines, never by sleeps.
//!
//! Dead code: every integration test file is its own crate and compiles this module again,
//! using only part of it. Each file therefore declares it as `pub mod common;`: rustc then
//! treats the `pub` items as the crate's public API and does not report the ones that
//! particular file leaves unused (with a private `mod common;` it reports them, even when they
//! are `pub`). Private items are still checked. The price is that a helper no test uses at
//! all is not reported either: to find those, switch the files to `mod common;` for a build
//! and look for items reported in every test crate.

pub mod cache_env;
pub mod certs;
pub mod consul;
pub mod curl;
pub mod dist;
pub mod edge;
pub mod http;
pub mod kafka;
pub mod origin;
pub mod raw;
pub mod redis;
pub mod scrape;
pub mod tiers;
pub mod wait;

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Mutex;
use std::time::Duration;

pub use wait::{eventually, wait_until};

/// A loopback port for a server that must be told its port (external processes, configs):
/// free when probed and never handed out twice in this test process, so parallel tests do
/// not race each other for it. Another program may still take it before the server binds:
/// starters that can, retry with another port ([`wait::retry_port_race`]).
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("no free port")
            .port();
        if GIVEN.lock().unwrap().insert(port) {
            return port;
        }
    }
}

/// `127.0.0.1:<free_port()>`.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], free_port()))
}

/// True once something accepts TCP connections on `addr`.
pub fn port_open(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
}

/// A blocking HTTP client that does not follow redirects, with a hang-detector timeout.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

pub use raw::raw_request;
