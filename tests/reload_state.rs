//! Built-in plugins across `edgeproxy -s reload` (reload in place), through the real binary:
//! state carried while a plugin's config is unchanged (a local rate-limit window, a page's
//! L1 and render cache), rebuilt when it changed, and log writers that keep one thread
//! however many reloads (the retired one stops).

pub mod common;

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use common::edge::{binary, Edge};
use common::origin::Origin;
use common::scrape::metric;
use common::{client, free_addr, free_port, wait_until};

/// `[server]` for a process `-s reload` can reach: pid file and control socket in its dir.
const SERVER: &str = r#"
[server]
pid_file = "edgeproxy.pid"
control_sock = "control.sock"
"#;

/// Rewrites the running edge's config and runs `edgeproxy -s reload -c` on it: it must
/// succeed and say the new generation is in force.
fn reload(edge: &Edge, config: &str) -> String {
    let path = edge.path("edgeproxy.toml");
    let text = config.replace("{dir}", &edge.dir.path().display().to_string());
    std::fs::write(&path, text).unwrap();
    let out = Command::new(binary())
        .args(["-s", "reload", "-c"])
        .arg(&path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "reload failed: {stdout}{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        edge.stderr()
    );
    assert!(
        stdout.contains("edgeproxy: reloaded in place: generation ")
            && stdout.contains(" in force"),
        "{stdout}"
    );
    stdout
}

fn status(addr: SocketAddr, path: &str, user: &str) -> u16 {
    client()
        .get(format!("http://{addr}{path}"))
        .header("x-user", user)
        .send()
        .unwrap()
        .status()
        .as_u16()
}

fn rate_limit_config(listen: SocketAddr, limit: u32, other: &str) -> String {
    format!(
        r#"{SERVER}
[[servers]]
listen = ["{listen}"]

[[servers.routes]]
path = "/limited"
plugins = [
  {{ name = "rate-limit", config = {{ rule = "reload", key = "$http_x_user", limit = {limit}, window = "1h" }} }},
  {{ name = "respond", config = {{ body = "ok" }} }},
]

[[servers.routes]]
path = "/other"
plugins = [{{ name = "respond", config = {{ body = "{other}" }} }}]
"#
    )
}

#[test]
fn a_local_rate_limit_window_keeps_its_count_until_the_rule_changes() {
    let listen = free_addr();
    let edge = Edge::start(&rate_limit_config(listen, 3, "a"), &[listen]);
    let used: Vec<u16> = (0..4)
        .map(|_| status(listen, "/limited", "alice"))
        .collect();
    assert_eq!(used, [200, 200, 200, 429]);

    // Another route changed, the rule did not: alice is still limited, bob is not.
    let said = reload(&edge, &rate_limit_config(listen, 3, "b"));
    assert!(said.contains("generation 2"), "{said}");
    let body = client()
        .get(format!("http://{listen}/other"))
        .send()
        .unwrap()
        .text();
    assert_eq!(body.unwrap(), "b", "the new generation is in force");
    assert_eq!(
        status(listen, "/limited", "alice"),
        429,
        "window carried over"
    );
    assert_eq!(status(listen, "/limited", "bob"), 200);

    // The rule changed: a fresh window.
    reload(&edge, &rate_limit_config(listen, 4, "b"));
    let fresh: Vec<u16> = (0..5)
        .map(|_| status(listen, "/limited", "alice"))
        .collect();
    assert_eq!(fresh, [200, 200, 200, 200, 429]);
}

fn page_config(listen: SocketAddr, origin: SocketAddr, template: &str, other: &str) -> String {
    format!(
        r#"{SERVER}
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[caches.main]
l1_capacity = "16MiB"

[[servers]]
listen = ["{listen}"]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]

[[servers.routes]]
path = "/other"
plugins = [{{ name = "respond", config = {{ body = "{other}" }} }}]

[[servers.routes]]
path = "/product"
plugins = [{{ name = "page", config = {{ cache = "main", template = "{template}", render_cache = "1MiB", params = {{ id = {{ pattern = "[0-9]{{1,6}}" }} }}, sources = [{{ name = "product", key = "p_{{id}}", origin = "origin", path = "/p/{{id}}", ttl = "10m" }}] }} }}]
"#
    )
}

fn product(addr: SocketAddr) -> (String, String) {
    let r = client()
        .get(format!("http://{addr}/product?id=7"))
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let level = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (level, r.text().unwrap())
}

#[test]
fn a_warm_page_stays_in_l1_and_in_the_render_cache_across_a_reload() {
    let origin = Origin::builder()
        .status(404)
        .route("/p/7", 200, r#"{"name":"Phone"}"#)
        .start();
    let listen = free_addr();
    let tpl = tempfile::tempdir().unwrap();
    let template = tpl.path().join("page.hbs");
    std::fs::write(&template, "name={{product.name}}").unwrap();
    let template = template.display().to_string();
    let edge = Edge::start(&page_config(listen, origin.addr, &template, "a"), &[listen]);
    assert_eq!(product(listen), ("ORIGIN".into(), "name=Phone".into()));
    // Seen twice: remembered by the render cache; the third answer comes from it.
    for _ in 0..2 {
        assert_eq!(product(listen).0, "L1");
    }
    let hits = || metric(listen, "edgeproxy_page_render_cache_hits_total").unwrap_or(-1.0);
    let before = hits();
    assert!(
        before >= 1.0,
        "render cache hits before the reload: {before}"
    );

    reload(&edge, &page_config(listen, origin.addr, &template, "b"));
    let body = client()
        .get(format!("http://{listen}/other"))
        .send()
        .unwrap()
        .text();
    assert_eq!(body.unwrap(), "b", "the new generation is in force");
    assert_eq!(product(listen), ("L1".into(), "name=Phone".into()));
    assert_eq!(
        hits(),
        before + 1.0,
        "the page came from the carried render cache"
    );
    assert_eq!(
        origin.hits_for("/p/7"),
        1,
        "no origin request caused by the reload"
    );
}

fn log_config(listen: SocketAddr, kafka: u16, topic: &str, log: &str, other: &str) -> String {
    format!(
        r#"{SERVER}
[[servers]]
listen = ["{listen}"]

[[servers.routes]]
plugins = [
  {{ name = "access-log", config = {{ path = "{log}" }} }},
  {{ name = "kafka-log", config = {{ brokers = ["127.0.0.1:{kafka}"], topic = "{topic}", timeout = "200ms" }} }},
  {{ name = "respond", config = {{ body = "{other}" }} }},
]
"#
    )
}

/// Ids of the process's threads named `name`.
fn threads_named(pid: u32, name: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let comm = std::fs::read_to_string(t.path().join("comm")).unwrap_or_default();
        if comm.trim() == name {
            ids.insert(t.file_name().to_string_lossy().into_owned());
        }
    }
    ids
}

/// `Threads:` of `/proc/PID/status`.
fn thread_count(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:")?.trim().parse().ok())
        .unwrap()
}

fn get_body(addr: SocketAddr) -> String {
    client()
        .get(format!("http://{addr}/"))
        .send()
        .unwrap()
        .text()
        .unwrap()
}

#[test]
fn log_writers_keep_their_thread_over_reloads_and_a_retired_one_stops() {
    let listen = free_addr();
    let kafka = free_port(); // nothing listens: the producer retries on its own
    let config = |topic: &str, log: &str, other: &str| log_config(listen, kafka, topic, log, other);
    let edge = Edge::start(&config("t1", "access.log", "0"), &[listen]);
    let pid = edge.child.id();
    assert_eq!(get_body(listen), "0");
    // The log phase runs after the answer: its threads start just after.
    wait_until("one writer, one producer", Duration::from_secs(5), || {
        (
            threads_named(pid, "access-log").len(),
            threads_named(pid, "kafka-log").len(),
        ) == (1, 1)
    })
    .unwrap();
    let access = threads_named(pid, "access-log");
    let producer = threads_named(pid, "kafka-log");
    let before = thread_count(pid);

    for i in 1..=30 {
        reload(&edge, &config("t1", "access.log", &i.to_string()));
        assert_eq!(get_body(listen), i.to_string());
        assert_eq!(
            threads_named(pid, "access-log"),
            access,
            "reload {i}: the same writer"
        );
        assert_eq!(
            threads_named(pid, "kafka-log"),
            producer,
            "reload {i}: the same producer"
        );
    }
    let after = thread_count(pid);
    eprintln!("threads: {before} before, {after} after 30 reloads");
    assert!(after <= before + 2, "threads grew: {before} → {after}");

    // Changed settings: new threads, and the retired ones end.
    reload(&edge, &config("t2", "access2.log", "x"));
    assert_eq!(get_body(listen), "x");
    wait_until(
        "the retired threads to end",
        Duration::from_secs(10),
        || {
            let (a, k) = (
                threads_named(pid, "access-log"),
                threads_named(pid, "kafka-log"),
            );
            a.len() == 1 && k.len() == 1 && a != access && k != producer
        },
    )
    .unwrap();
    let lines = |name: &str| std::fs::read_to_string(edge.path(name)).unwrap_or_default();
    wait_until("access lines in both files", Duration::from_secs(5), || {
        lines("access.log").lines().count() == 31 && lines("access2.log").lines().count() == 1
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
}
