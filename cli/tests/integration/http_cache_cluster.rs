//! The HTTP response cache across three nodes sharing a real `redis-server`: a fill on one
//! node is a hit on the others, concurrent cold requests on every node cost one origin
//! fetch, a purge by tag on one node reaches every node before it returns, Redis frozen or
//! down degrades to L1 + origin without a 5xx, an object larger than the cache's object
//! limit streams through with flat memory, and `forward_tags` tells a first hop the keys.

use std::net::SocketAddr;
use std::process::Command;
use std::time::Duration;

use crate::common::client;
use crate::common::curl::curl;
use crate::common::edge::Edge;
use crate::common::redis::RedisServer;
use crate::common::scrape::metric;
use crate::common::scripted::{cached_config, ScriptedOrigin};

/// One edge of the fleet: every path cached in `[caches.main]` (Redis `redis`).
fn node(origin: SocketAddr, redis: &str) -> Edge {
    let caches = format!(
        r#"
[caches.main]
[caches.main.redis]
addresses = ["{redis}"]
timeout = "150ms"
lock_wait = "5s"
lock_ttl = "10s"
breaker_failures = 3
breaker_cooldown = "1s"
purge_timeout = "2s"
[caches.main.http]
max_object_size = "1MiB"
"#
    );
    Edge::start(&cached_config(origin, &caches))
}

fn fleet(origin: &ScriptedOrigin, redis: &RedisServer) -> Vec<Edge> {
    let url = redis.url();
    let addr = url.trim_start_matches("redis://").trim_end_matches('/');
    (0..3).map(|_| node(origin.addr, addr)).collect()
}

fn get(edge: &Edge, path: &str) -> (u16, String, String) {
    let r = curl(&[], &format!("http://{}{path}", edge.addr()));
    let x = r.header("x-cache").unwrap_or("-").to_string();
    (r.status, x, r.text())
}

#[test]
fn a_fill_on_one_node_is_a_hit_on_the_others_and_a_tag_purge_reaches_every_node() {
    let redis = RedisServer::start();
    let origin = ScriptedOrigin::start();
    let nodes = fleet(&origin, &redis);
    let h = [
        ("cache-control", "max-age=600"),
        ("surrogate-key", "product-7"),
    ];
    origin.script("/p/7", 200, &h, "v1");
    assert_eq!(get(&nodes[0], "/p/7"), (200, "MISS".into(), "v1".into()));
    for n in &nodes[1..] {
        assert_eq!(get(n, "/p/7"), (200, "HIT".into(), "v1".into()));
    }
    assert_eq!(origin.hits("/p/7"), 1);

    origin.script("/p/7", 200, &h, "v2");
    let purge = curl(
        &["-X", "POST"],
        &format!("http://{}/purge?cache=main&tag=product-7", nodes[1].addr()),
    );
    assert_eq!(purge.status, 200, "{}", purge.text());
    // Confirmed before it returned: no node serves v1 any more.
    for n in &nodes {
        assert_eq!(get(n, "/p/7").2, "v2");
    }
    assert_eq!(origin.hits("/p/7"), 2, "refilled once for the fleet");
}

#[test]
fn concurrent_cold_requests_on_every_node_cost_one_origin_fetch() {
    let redis = RedisServer::start();
    let origin = ScriptedOrigin::start();
    let nodes = fleet(&origin, &redis);
    origin.script(
        "/cold",
        200,
        &[("cache-control", "max-age=600")],
        "cold object",
    );
    origin.set_delay(Duration::from_millis(300));
    let addrs: Vec<SocketAddr> = nodes.iter().map(|n| n.addr()).collect();
    let per_node = 30;
    let threads: Vec<_> = (0..per_node * addrs.len())
        .map(|i| {
            let addr = addrs[i % addrs.len()];
            std::thread::spawn(move || {
                let r = client().get(format!("http://{addr}/cold")).send().unwrap();
                (r.status().as_u16(), r.text().unwrap())
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), (200, "cold object".to_string()));
    }
    assert_eq!(
        origin.hits("/cold"),
        1,
        "one fetch for 90 requests on 3 nodes"
    );
    // The other nodes waited for the filler's fill; the filler's other requests waited
    // behind its own cache lock — or, arriving before the node's lock was taken, behind the
    // fleet's (which one is arrival timing, so only the sum is asserted for them).
    let waits = |scope: &str| -> f64 {
        let series =
            format!("edgeproxy_http_cache_lock_waits_total{{cache=\"main\",scope=\"{scope}\"}}");
        addrs
            .iter()
            .map(|a| metric(*a, &series).unwrap_or(0.0))
            .sum()
    };
    assert!(
        waits("cluster") >= 2.0,
        "cluster waits {}",
        waits("cluster")
    );
    let (node, cluster) = (waits("node"), waits("cluster"));
    assert!(
        node + cluster >= 3.0,
        "node waits {node}, cluster waits {cluster}"
    );
}

#[test]
fn redis_frozen_or_down_degrades_to_l1_and_origin_without_5xx() {
    let mut redis = RedisServer::start();
    let origin = ScriptedOrigin::start();
    let nodes = fleet(&origin, &redis);
    origin.script("/warm", 200, &[("cache-control", "max-age=600")], "warm");
    origin.script("/new", 200, &[("cache-control", "max-age=600")], "new");
    assert_eq!(get(&nodes[0], "/warm").0, 200);
    redis.node.freeze();
    for _ in 0..3 {
        for n in &nodes {
            let (status, _, body) = get(n, "/new");
            assert_eq!(status, 200);
            assert_eq!(body, "new");
        }
        assert_eq!(get(&nodes[0], "/warm"), (200, "HIT".into(), "warm".into()));
    }
    redis.node.thaw();
    redis.node.kill();
    for n in &nodes {
        assert_eq!(get(n, "/new").0, 200);
        assert_eq!(get(n, "/other-path-404").0, 404);
    }
}

/// Peak resident memory of a process, in KiB (`VmHWM`).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn an_object_larger_than_the_limit_streams_through_with_flat_memory() {
    let redis = RedisServer::start();
    let origin = ScriptedOrigin::start();
    let nodes = fleet(&origin, &redis);
    let size = 200usize << 20;
    origin.script_bytes(
        "/huge",
        200,
        &[("cache-control", "max-age=600")],
        vec![7u8; size],
    );
    let before = peak_rss_kib(nodes[0].child.id());
    let url = format!("http://{}/huge", nodes[0].addr());
    for _ in 0..2 {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "60",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code} %{size_download}",
            ])
            .arg(&url)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), format!("200 {size}"));
    }
    let grown_mib = (peak_rss_kib(nodes[0].child.id()) - before) / 1024;
    eprintln!(
        "peak RSS before {} MiB, growth {grown_mib} MiB",
        before / 1024
    );
    assert!(
        grown_mib < 64,
        "peak RSS grew {grown_mib} MiB for a 200 MiB body"
    );
    assert_eq!(origin.hits("/huge"), 2, "not stored: fetched each time");
}

#[test]
fn forward_tags_names_the_cache_key_and_the_tags_for_a_first_hop() {
    let origin = ScriptedOrigin::start();
    let caches = "[caches.main]\n[caches.main.http]\nforward_tags = true";
    let edge = Edge::start(&cached_config(origin.addr, caches));
    let h = [
        ("cache-control", "max-age=600"),
        ("cache-tag", "product-9,list"),
    ];
    origin.script("/ft", 200, &h, "ft");
    for _ in 0..2 {
        let r = curl(&[], &format!("http://{}/ft", edge.addr()));
        let keys = r.header("surrogate-key");
        assert_eq!(keys, Some("http127.0.0.1/ft product-9 list"));
        assert!(r.header("cache-tag").is_none());
    }
}
