//! Helpers for the distribution-tier end-to-end tests: a config builder for one edge in
//! front of one upstream group, and a client that reports which origin answered.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::edge::ANY_PORT;

/// An edge config proxying every path to upstream group `app`; it listens on a port the
/// OS picks (`Edge::addr`).
#[derive(Default)]
pub struct DistConfig {
    /// Lines of the `[upstreams.app]` table (servers, balance, ...).
    pub group: Vec<String>,
    /// Lines of `[upstreams.app.consul]`, if any.
    pub consul: Vec<String>,
}

impl DistConfig {
    /// A config with an empty group.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a line to `[upstreams.app]`.
    pub fn group(mut self, line: &str) -> Self {
        self.group.push(line.to_string());
        self
    }

    /// Adds a Consul source at `url` on prefix `upstreams/app/` with a short wait and backoff,
    /// plus extra lines for `[upstreams.app.consul]`.
    pub fn consul(mut self, url: &str, extra: &[&str]) -> Self {
        self.consul.push(format!("address = \"{url}\""));
        self.consul.push("prefix = \"upstreams/app/\"".into());
        self.consul.push("wait = \"1s\"".into());
        self.consul.push("max_backoff = \"200ms\"".into());
        self.consul.extend(extra.iter().map(|s| s.to_string()));
        self
    }

    /// The TOML text (`{dir}` is filled in by `Edge::start`).
    pub fn render(&self) -> String {
        let mut s = String::from(
            "[server]\nthreads = 2\npid_file = \"{dir}/edge.pid\"\nupgrade_sock = \"{dir}/edge.sock\"\n\n[upstreams.app]\n",
        );
        for l in &self.group {
            s.push_str(l);
            s.push('\n');
        }
        if !self.consul.is_empty() {
            s.push_str("\n[upstreams.app.consul]\n");
            for l in &self.consul {
                s.push_str(l);
                s.push('\n');
            }
        }
        s.push_str(&format!(
            "\n[[servers]]\nname = \"dist\"\nlisten = [\"{}\"]\n\n[[servers.routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n",
            ANY_PORT
        ));
        s
    }
}

/// `servers = [...]` for the given addresses, weight 1.
pub fn servers_line(addrs: &[SocketAddr]) -> String {
    let list: Vec<String> = addrs
        .iter()
        .map(|a| format!("{{ addr = \"{a}\" }}"))
        .collect();
    format!("servers = [{}]", list.join(", "))
}

/// A client of one edge.
pub struct Client {
    base: String,
    http: reqwest::blocking::Client,
}

impl Client {
    /// A keep-alive client for the edge at `addr`.
    pub fn new(addr: SocketAddr) -> Client {
        Client {
            base: format!("http://{addr}"),
            http: super::client(),
        }
    }

    /// GETs `path_and_query` with extra headers; returns the status and the `X-Origin-Port`
    /// of the answering origin (0 when the edge answered itself).
    pub fn get_with(&self, path_and_query: &str, headers: &[(&str, &str)]) -> (u16, u16) {
        let mut req = self.http.get(format!("{}{path_and_query}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        match req.send() {
            Ok(r) => {
                let port = r
                    .headers()
                    .get("x-origin-port")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let status = r.status().as_u16();
                let _ = r.bytes();
                (status, port)
            }
            Err(_) => (0, 0),
        }
    }

    /// GETs `path_and_query`; see [`Client::get_with`].
    pub fn get(&self, path_and_query: &str) -> (u16, u16) {
        self.get_with(path_and_query, &[])
    }

    /// Sends requests until one is answered by origin `port` or `timeout` passes; returns
    /// the time it took, or `None`.
    pub fn time_until_routed_to(&self, port: u16, timeout: Duration) -> Option<Duration> {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.get("/probe").1 == port {
                return Some(start.elapsed());
            }
        }
        None
    }

    /// Sends requests until `n` consecutive ones avoid origin `port` (bounded by `timeout`).
    pub fn until_avoids(&self, port: u16, n: usize, timeout: Duration) -> bool {
        let start = Instant::now();
        let mut run = 0;
        while start.elapsed() < timeout {
            let (status, p) = self.get("/probe");
            if status == 200 && p != port {
                run += 1;
                if run >= n {
                    return true;
                }
            } else {
                run = 0;
            }
        }
        false
    }

    /// Origin ports of `n` requests to `path_and_query`; panics on a non-200.
    pub fn ports(&self, path_and_query: &str, n: usize) -> Vec<u16> {
        (0..n)
            .map(|_| {
                let (status, port) = self.get(path_and_query);
                assert_eq!(status, 200, "request to {path_and_query} failed");
                port
            })
            .collect()
    }
}

/// The KV key of `addr` in group `app`.
pub fn kv_key(addr: SocketAddr) -> String {
    format!("upstreams/app/{addr}")
}

/// The `p`-quantile of `v` (sorted in place).
pub fn quantile(v: &mut [Duration], p: f64) -> Duration {
    v.sort();
    let i = ((v.len() as f64 - 1.0) * p).round() as usize;
    v[i.min(v.len() - 1)]
}
