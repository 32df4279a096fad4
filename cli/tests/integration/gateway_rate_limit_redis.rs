//! `rate-limit` with Redis scope through the real binary: three edgeproxy processes share
//! one limit in a real `redis-server` (standalone and the 6-node cluster); Redis frozen
//! (SIGSTOP) or killed mid-load → never a 5xx, each node limits to its share (`nodes = 3`)
//! while Redis is away, the switch is logged and counted, and the shared limit is back once
//! Redis answers again.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::redis::{RedisCluster, RedisServer};
use crate::common::{client, scrape, wait_until};

/// A rule named `r` on `/`, its metrics on `/metrics`.
fn config(listen: SocketAddr, rule: &str) -> String {
    format!(
        r#"
[[servers]]
listen = ["{listen}"]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]

[[servers.routes]]
path_prefix = "/"
plugins = [
  {{ name = "rate-limit", config = {{ rule = "r", key = "$http_x_user", {rule} }} }},
  {{ name = "respond", config = {{ body = "ok" }} }},
]
"#
    )
}

/// `redis = { … }` for a standalone server or the cluster's seeds.
fn redis_table(mode: &str, urls: &[String]) -> String {
    let addrs: Vec<String> = urls.iter().map(|u| format!("{u:?}")).collect();
    format!(
        r#"scope = "redis", redis = {{ mode = "{mode}", addresses = [{}], timeout = "50ms", breaker_cooldown = "300ms" }}"#,
        addrs.join(", ")
    )
}

fn start_edges(rule: &str) -> Vec<(SocketAddr, Edge)> {
    (0..3)
        .map(|_| {
            let edge = Edge::start(&config(ANY_PORT, rule));
            (edge.addr(), edge)
        })
        .collect()
}

fn hit(c: &reqwest::blocking::Client, addr: SocketAddr, user: &str) -> u16 {
    c.get(format!("http://{addr}/x"))
        .header("x-user", user)
        .send()
        .map(|r| r.status().as_u16())
        .unwrap_or_else(|e| panic!("request to {addr} failed: {e}"))
}

/// `per_edge` requests for `user` on each edge at once; the statuses, per edge.
fn burst(edges: &[(SocketAddr, Edge)], per_edge: usize, user: &str) -> Vec<Vec<u16>> {
    std::thread::scope(|s| {
        let handles: Vec<_> = edges
            .iter()
            .map(|(addr, _)| {
                s.spawn(move || {
                    let c = client();
                    (0..per_edge).map(|_| hit(&c, *addr, user)).collect()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

fn count(statuses: &[Vec<u16>], status: u16) -> usize {
    statuses.iter().flatten().filter(|&&s| s == status).count()
}

/// The series `name` on `addr`'s `/metrics`, 0 while absent.
fn metric(addr: SocketAddr, name: &str) -> f64 {
    scrape::metric(addr, name).unwrap_or(0.0)
}

const FALLBACK: &str = r#"edgeproxy_rate_limit_fallback{rule="r"}"#;

#[test]
fn three_nodes_share_one_window_and_one_bucket_in_redis() {
    let redis = RedisServer::start();
    let table = redis_table("single", &[redis.url()]);
    let edges = start_edges(&format!("limit = 50, window = \"1h\", nodes = 3, {table}"));
    for user in ["u1", "u2"] {
        let got = burst(&edges, 30, user);
        assert_eq!(count(&got, 200), 50, "{user}: {got:?}");
        assert_eq!(count(&got, 429), 40, "{user}");
    }
    assert_eq!(redis.node.cli(&["HGET", "rl:{r:u1}", "c"]).trim(), "50");

    // nginx limit_req semantics across the three: 1 + burst at once, then the rate.
    let bucket = format!("algorithm = \"leaky_bucket\", rate = \"20r/s\", burst = 10, nodelay = true, key_prefix = \"b:\", nodes = 3, {table}");
    let edges = start_edges(&bucket);
    let started = Instant::now();
    let mut allowed = 0;
    while started.elapsed() < Duration::from_secs(2) {
        allowed += count(&burst(&edges, 5, "b"), 200);
    }
    let expected = 11.0 + 20.0 * started.elapsed().as_secs_f64();
    let allowed = allowed as f64;
    assert!(
        (allowed - expected).abs() <= expected * 0.05 + 2.0,
        "allowed {allowed}, expected about {expected}"
    );
}

#[test]
fn three_nodes_share_one_limit_in_the_cluster() {
    let cluster = RedisCluster::start();
    let table = redis_table("cluster", &cluster.urls());
    let edges = start_edges(&format!(
        "algorithm = \"fixed_window\", limit = 20, window = \"1h\", nodes = 3, {table}"
    ));
    // Users hash to different slots, hence different masters.
    for user in ["alice", "bob", "carol", "dave"] {
        let got = burst(&edges, 12, user);
        assert_eq!(count(&got, 200), 20, "{user}: {got:?}");
        assert_eq!(count(&got, 429), 16, "{user}");
    }
    for (addr, edge) in &edges {
        assert_eq!(metric(*addr, FALLBACK), 0.0, "{}", edge.stderr());
    }
}

/// A load on every edge until stopped: `(status, started, ended)` per request, per edge.
struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<Vec<(u16, Instant, Instant)>>>,
}

impl Load {
    fn start(edges: &[(SocketAddr, Edge)], user: &'static str) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = edges
            .iter()
            .map(|(addr, _)| {
                let (addr, stop) = (*addr, stop.clone());
                std::thread::spawn(move || {
                    let c = client();
                    let mut seen = Vec::new();
                    while !stop.load(Ordering::Relaxed) {
                        let t0 = Instant::now();
                        let s = hit(&c, addr, user);
                        seen.push((s, t0, Instant::now()));
                        std::thread::sleep(Duration::from_millis(5));
                    }
                    seen
                })
            })
            .collect();
        Load { stop, threads }
    }

    fn finish(self) -> Vec<Vec<(u16, Instant, Instant)>> {
        self.stop.store(true, Ordering::Relaxed);
        self.threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect()
    }
}

/// Redis goes away mid-load (`outage`), comes back (`recover`): no 5xx, each edge admits
/// at most its share (10 of 30) while Redis is away, the switches are logged and counted,
/// and the shared limit holds again after. Returns the edges.
fn outage_and_recovery(
    table: &str,
    outage: impl FnOnce(),
    recover: impl FnOnce(),
) -> Vec<(SocketAddr, Edge)> {
    let edges = start_edges(&format!("limit = 30, window = \"1h\", nodes = 3, {table}"));
    assert_eq!(count(&burst(&edges, 4, "u"), 200), 12);

    let load = Load::start(&edges, "u");
    std::thread::sleep(Duration::from_millis(300));
    let away = Instant::now();
    outage();
    for (addr, edge) in &edges {
        wait_until("the fallback in force", Duration::from_secs(10), || {
            metric(*addr, FALLBACK) == 1.0
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
    }
    std::thread::sleep(Duration::from_millis(800));
    let back = Instant::now();
    recover();
    for (addr, edge) in &edges {
        wait_until("the shared limit back", Duration::from_secs(30), || {
            metric(*addr, FALLBACK) == 0.0
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
    }
    let seen = load.finish();

    let all: Vec<u16> = seen.iter().flatten().map(|r| r.0).collect();
    assert!(
        all.iter().all(|&s| s == 200 || s == 429),
        "only 200 and 429: {all:?}"
    );
    for per_edge in &seen {
        let during: Vec<u16> = per_edge
            .iter()
            .filter(|(_, t0, t1)| *t0 >= away + Duration::from_millis(100) && *t1 <= back)
            .map(|r| r.0)
            .collect();
        let admitted = during.iter().filter(|&&s| s == 200).count();
        assert!(
            admitted <= 10,
            "at most the local share: {admitted} of {during:?}"
        );
        assert!(during.contains(&429), "the share is a limit: {during:?}");
    }
    for (addr, edge) in &edges {
        let to = |mode: &str| {
            metric(
                *addr,
                &format!(r#"edgeproxy_rate_limit_mode_switches_total{{rule="r",to="{mode}"}}"#),
            )
        };
        assert!(to("fallback") >= 1.0 && to("redis") >= 1.0);
        let log = edge.stderr();
        assert!(log.contains("rate-limit: redis unavailable"), "{log}");
        assert!(log.contains("rate-limit: redis answers again"), "{log}");
    }
    // The shared count never passes the limit, whatever Redis went through.
    let after = burst(&edges, 12, "u");
    assert!(count(&after, 200) <= 30, "{after:?}");
    edges
}

#[test]
fn frozen_redis_mid_load_falls_back_to_the_local_share_and_recovers() {
    let redis = RedisServer::start();
    let table = redis_table("single", &[redis.url()]);
    outage_and_recovery(&table, || redis.node.freeze(), || redis.node.thaw());
    let c: u64 = redis
        .node
        .cli(&["HGET", "rl:{r:u}", "c"])
        .trim()
        .parse()
        .unwrap();
    assert!(c <= 30, "{c}");
}

#[test]
fn killed_redis_mid_load_falls_back_to_the_local_share_and_recovers() {
    let redis = std::sync::Mutex::new(RedisServer::start());
    let table = redis_table("single", &[redis.lock().unwrap().url()]);
    let edges = outage_and_recovery(
        &table,
        || redis.lock().unwrap().node.kill(),
        || redis.lock().unwrap().node.restart(),
    );
    // Restarted empty: the limit counts again from zero, shared by the three.
    let more = burst(&edges, 15, "v");
    assert_eq!(count(&more, 200), 30, "{more:?}");
}

#[test]
fn cluster_frozen_then_a_master_killed_mid_load() {
    let mut cluster = RedisCluster::start();
    let table = redis_table("cluster", &cluster.urls());
    let nodes = &cluster.nodes;
    let edges = outage_and_recovery(
        &table,
        || nodes.iter().for_each(|n| n.freeze()),
        || nodes.iter().for_each(|n| n.thaw()),
    );
    cluster.wait_healthy(Duration::from_secs(30));
    // Kill the master holding the key: its replica takes over, the client follows.
    let owner = cluster
        .masters()
        .into_iter()
        .find(|&i| cluster.nodes[i].cli(&["EXISTS", "rl:{r:u}"]).trim() == "1")
        .expect("a master holds the key");
    let load = Load::start(&edges, "w");
    cluster.fail_over_master(owner);
    for (addr, edge) in &edges {
        wait_until("the shared limit back", Duration::from_secs(30), || {
            metric(*addr, FALLBACK) == 0.0
        })
        .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
    }
    let seen = load.finish();
    let all: Vec<u16> = seen.iter().flatten().map(|r| r.0).collect();
    assert!(all.iter().all(|&s| s == 200 || s == 429), "{all:?}");
    let fresh = burst(&edges, 10, "x");
    assert_eq!(
        count(&fresh, 200),
        30,
        "the cluster counts again: {fresh:?}"
    );
}
