//! Many reloads in place leak nothing: configs alternate so that every reload retires and
//! rebuilds a Consul watch, an active health checker, a cache and plugin instances, and
//! after the warm-up the process's threads, open descriptors, part tasks and memory stay
//! flat while it keeps answering. `EDGEPROXY_SOAK_RELOADS` sets the count (default 200;
//! BENCHMARKS.md's figure comes from 1,000).

pub mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;

use common::consul::ConsulDouble;
use common::edge::{binary, Edge};
use common::origin::Origin;
use common::{client, free_addr};

fn config(addr: SocketAddr, admin: SocketAddr, consul: &str, origin: SocketAddr, v: u32) -> String {
    // Even and odd generations differ in the watched prefix, the check interval, the cache
    // size and the answer: each reload retires one of each and builds another.
    let side = v % 2;
    format!(
        r#"
[server]
pid_file = "edgeproxy.pid"
upgrade_sock = "upgrade.sock"

[upstreams.dyn]
servers = [{{ addr = "{origin}" }}]
[upstreams.dyn.consul]
address = "{consul}"
prefix = "upstreams/dyn{side}/"
wait = "1s"
max_backoff = "200ms"

[upstreams.checked]
servers = [{{ addr = "{origin}" }}]
health_check = {{ kind = "tcp", interval = "{interval}ms" }}

[caches.c]
l1_capacity = "{cap}MiB"

[[servers]]
listen = ["{addr}"]

[[servers.routes]]
path = "/"
plugins = [{{ name = "respond", config = {{ body = "v{v}" }} }}]

[[servers.routes]]
path = "/proxy"
upstream = "dyn"

[[servers]]
name = "admin"
listen = ["{admin}"]
[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]
"#,
        interval = 200 + side * 50,
        cap = 4 + side,
    )
}

/// Threads, open descriptors and resident memory (KiB) of `pid`.
fn usage(pid: u32) -> (usize, usize, usize) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> usize {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap()
    };
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .count();
    (field("Threads:"), fds, field("VmRSS:"))
}

fn part_tasks(admin: SocketAddr) -> Vec<String> {
    let text = client()
        .get(format!("http://{admin}/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .filter(|l| l.starts_with("edgeproxy_part_tasks{"))
        .map(str::to_string)
        .collect()
}

fn reload(conf: &Path, text: &str) {
    std::fs::write(conf, text).unwrap();
    let out = Command::new(binary())
        .args(["-s", "reload", "-c"])
        .arg(conf)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn hundreds_of_reloads_leak_no_thread_descriptor_task_or_memory() {
    let reloads: u32 = std::env::var("EDGEPROXY_SOAK_RELOADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(200);
    let consul = ConsulDouble::start();
    let origin = Origin::start();
    consul.put("upstreams/dyn0/".to_string().as_str(), "");
    let (addr, admin) = (free_addr(), free_addr());
    let dir = tempfile::tempdir().unwrap();
    let text = config(addr, admin, &consul.url(), origin.addr, 0);
    let mut edge = Edge::spawn_in(dir, "edge", &text, &[]);
    edge.wait_listening(&[addr, admin])
        .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
    let conf = edge.path("edge.toml");
    let pid = edge.child.id();
    let c = client();
    let warm_up = 20;
    let mut baseline = None;
    for v in 1..=reloads {
        reload(&conf, &config(addr, admin, &consul.url(), origin.addr, v));
        let body = c
            .get(format!("http://{addr}/"))
            .send()
            .unwrap()
            .text()
            .unwrap();
        assert_eq!(body, format!("v{v}"));
        if v == warm_up {
            baseline = Some((usage(pid), part_tasks(admin)));
        }
    }
    let ((threads, fds, rss), tasks) = baseline.expect("more reloads than the warm-up");
    let (threads2, fds2, rss2) = usage(pid);
    let after = part_tasks(admin);
    eprintln!(
        "{reloads} reloads: threads {threads} → {threads2}, fds {fds} → {fds2}, \
         RSS {rss} → {rss2} KiB, tasks {tasks:?} → {after:?}"
    );
    assert_eq!(threads2, threads, "threads");
    assert!(fds2 <= fds + 2, "descriptors {fds} → {fds2}");
    assert_eq!(after, tasks, "part tasks");
    assert!(
        tasks
            .iter()
            .any(|l| l.contains("consul_watch") && l.ends_with(" 1")),
        "one watch runs: {tasks:?}"
    );
    // Allocator noise, not growth per reload: 200 leaked generations would be far more.
    assert!(rss2 < rss + 16 * 1024, "RSS {rss} → {rss2} KiB");
}
