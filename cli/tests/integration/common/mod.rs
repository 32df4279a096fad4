//! The test harness: real servers and doubles, each started by one builder or constructor,
//! cleaned up on `Drop` (processes killed, threads joined, temp dirs removed), listening on
//! port 0 where we own the server (the `edgeproxy` binary included: [`edge::ANY_PORT`]),
//! and awaited by conditions with deadlines, never by sleeps. Compiled once for the whole
//! suite, so a helper no test uses is reported as dead code.

pub mod cache_env;
pub mod certs;
pub mod consul;
pub mod curl;
pub mod dist;
pub mod edge;
pub mod grpc;
pub mod http;
pub mod kafka;
pub mod origin;
pub mod raw;
pub mod redis;
pub mod scrape;
pub mod scripted;
pub mod tcp;
pub mod tiers;
pub mod wait;

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

pub use wait::{eventually, wait_until};

/// A loopback port for a server that must be told its port (external processes, configs):
/// free when probed and never handed out twice in this test process, so parallel tests do
/// not race each other for it. Another program may still take it before the server binds:
/// starters that can, retry with another port ([`wait::retry_port_race`]).
pub fn free_port() -> u16 {
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("no free port")
            .port();
        if claim(port) {
            return port;
        }
    }
}

/// Marks `port` as handed out (false if it already was): for a port a server derives from
/// a [`free_port`] (a Redis cluster node's bus port).
pub fn claim(port: u16) -> bool {
    static GIVEN: Mutex<BTreeSet<u16>> = Mutex::new(BTreeSet::new());
    GIVEN.lock().unwrap().insert(port)
}

/// `$var`, else `default` under `~/.cache/edgeproxy/tools/`; it must exist.
pub fn tool(var: &str, default: &str) -> PathBuf {
    let path = std::env::var_os(var).map(PathBuf::from).unwrap_or_else(|| {
        let home = std::env::var_os("HOME").unwrap_or_default();
        PathBuf::from(home)
            .join(".cache/edgeproxy/tools")
            .join(default)
    });
    assert!(
        path.exists(),
        "{} missing: run `make test-tools` (make test does), or set {var}",
        path.display()
    );
    path
}

/// `path` in the repository (e.g. `conf`).
pub fn repo_path(path: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/..")).join(path)
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

/// Like [`client`], with connections from the local address `from` (any of 127.0.0.0/8, or
/// ::1): how a test plays several clients.
pub fn client_from(from: impl Into<IpAddr>) -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        .local_address(from.into())
        .build()
        .expect("client")
}

/// GET `path` on `server` with `headers`, from the local address `from`: (status, body).
pub fn get_from(
    server: SocketAddr,
    from: impl Into<IpAddr>,
    path: &str,
    headers: &[(&str, &str)],
) -> (u16, String) {
    let mut req = client_from(from).get(format!("http://{server}{path}"));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().expect("send");
    (r.status().as_u16(), r.text().expect("body"))
}

/// Replaces `path`'s content the way an operator should (written aside, renamed into
/// place), so a reader never sees half of it.
pub fn replace_file(path: &Path, text: &str) {
    let tmp = path.with_extension("new");
    std::fs::write(&tmp, text).expect("write");
    std::fs::rename(&tmp, path).expect("rename");
}

pub use raw::raw_request;
