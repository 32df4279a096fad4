//! `gray-release` through the real binary: clients in the canary list (the seed's
//! `set gray "ip1 ip2"` in a real redis-server, a Redis set, or a Consul KV key) reach the
//! canary group, others the stable one; a changed list takes effect within a second with no
//! per-request Redis traffic; Redis or Consul gone → the last list keeps working; the side
//! shows in the access log (`$upstream_group`) and a response header.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::consul::ConsulDouble;
use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::redis::RedisServer;
use crate::common::{client_from, wait_until};

struct Setup {
    listen: SocketAddr,
    prod: Origin,
    pre: Origin,
    edge: Edge,
}

fn setup(ips_from: &str) -> Setup {
    let (prod, pre) = (Origin::start(), Origin::start());
    let listen = ANY_PORT;
    let config = format!(
        r#"
[upstreams.prod]
servers = [{{ addr = "{}" }}]

[upstreams.pre]
servers = [{{ addr = "{}" }}]

[[servers]]
listen = ["{listen}"]
plugins = [{{ name = "access-log", config = {{ path = "{{dir}}/access.log", format = "$remote_addr $upstream_group $status" }} }}]

[[servers.routes]]
path_prefix = "/"
upstream = "prod"
plugins = [
  {{ name = "gray-release", config = {{ canary = "pre", ips_from = {ips_from}, header = {{ name = "x-canary", values = ["1"] }}, response_header = "x-gray" }} }},
]
"#,
        prod.addr, pre.addr
    );
    let edge = Edge::start(&config);
    let listen = edge.addr();
    Setup {
        listen,
        prod,
        pre,
        edge,
    }
}

/// `(side header, which origin answered)` for a request from `from` (a loopback address).
fn side(s: &Setup, from: [u8; 4], headers: &[(&str, &str)]) -> (String, &'static str) {
    let mut req = client_from(from).get(format!("http://{}/p", s.listen));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().unwrap();
    assert_eq!(r.status(), 200);
    let header = r.headers()["x-gray"].to_str().unwrap().to_string();
    let body = r.text().unwrap();
    let origin = if body.contains(&s.pre.addr.port().to_string()) {
        "pre"
    } else if body.contains(&s.prod.addr.port().to_string()) {
        "prod"
    } else {
        panic!("unknown origin: {body}")
    };
    (header, origin)
}

const CANARY: (&str, &str) = ("canary", "pre");
const STABLE: (&str, &str) = ("stable", "prod");

fn is(got: (String, &str), want: (&str, &str)) -> bool {
    got.0 == want.0 && got.1 == want.1
}

/// Waits until `from` lands on `want`, at most `within`.
fn lands(s: &Setup, from: [u8; 4], want: (&str, &str), within: Duration) {
    wait_until("the new list in force", within, || {
        is(side(s, from, &[]), want)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", s.edge.stderr()));
}

#[test]
fn redis_list_live_without_per_request_traffic_and_kept_when_redis_dies() {
    let redis = RedisServer::start();
    redis.node.cli(&["SET", "gray", "127.0.0.2 127.0.0.3"]);
    let table = format!(
        r#"{{ redis = {{ addresses = ["{}"] }}, key = "gray", refresh = "200ms" }}"#,
        redis.url()
    );
    let s = setup(&table);
    assert!(is(side(&s, [127, 0, 0, 2], &[]), CANARY));
    assert!(is(side(&s, [127, 0, 0, 3], &[]), CANARY));
    assert!(is(side(&s, [127, 0, 0, 4], &[]), STABLE));
    assert!(is(side(&s, [127, 0, 0, 4], &[("x-canary", "1")]), CANARY));

    // A hundred requests: Redis sees the polls only.
    let (before, t0) = (redis.node.calls("evalsha"), Instant::now());
    for _ in 0..100 {
        side(&s, [127, 0, 0, 2], &[]);
    }
    let polls = (t0.elapsed().as_millis() / 200) as u64 + 3;
    let calls = redis.node.calls("evalsha") - before;
    assert!(
        calls <= polls,
        "{calls} script calls for 100 requests ({polls} polls)"
    );

    // The seed's operator changes the list: in force within a second.
    redis.node.cli(&["SET", "gray", "127.0.0.5"]);
    lands(&s, [127, 0, 0, 5], CANARY, Duration::from_secs(1));
    assert!(is(side(&s, [127, 0, 0, 2], &[]), STABLE));
    // A Redis set works as well.
    redis.node.cli(&["DEL", "gray"]);
    redis.node.cli(&["SADD", "gray", "127.0.0.7", "127.0.0.8"]);
    lands(&s, [127, 0, 0, 8], CANARY, Duration::from_secs(1));

    let log = std::fs::read_to_string(s.edge.path("access.log")).unwrap_or_default();
    assert!(
        log.contains("127.0.0.2 pre 200") && log.contains("127.0.0.4 prod 200"),
        "{log}"
    );
    drop(redis); // killed: the last list stays in force
    for _ in 0..20 {
        assert!(is(side(&s, [127, 0, 0, 7], &[]), CANARY));
        assert!(is(side(&s, [127, 0, 0, 5], &[]), STABLE));
        std::thread::sleep(Duration::from_millis(25));
    }
    assert!(
        s.edge.stderr().contains("cannot read the canary list"),
        "{}",
        s.edge.stderr()
    );
}

#[test]
fn consul_key_watched_and_kept_when_consul_stops() {
    let consul = ConsulDouble::start();
    consul.put("gray", "127.0.0.9, 127.0.1.0/24");
    let s = setup(&format!(
        r#"{{ consul = "{}", key = "gray", refresh = "200ms" }}"#,
        consul.url()
    ));
    assert!(is(side(&s, [127, 0, 0, 9], &[]), CANARY));
    assert!(is(side(&s, [127, 0, 1, 77], &[]), CANARY));
    assert!(is(side(&s, [127, 0, 0, 10], &[]), STABLE));
    consul.put("gray", "127.0.0.10");
    lands(&s, [127, 0, 0, 10], CANARY, Duration::from_secs(1));
    assert!(is(side(&s, [127, 0, 0, 9], &[]), STABLE));
    consul.stop();
    std::thread::sleep(Duration::from_millis(500));
    assert!(is(side(&s, [127, 0, 0, 10], &[]), CANARY));
    assert!(is(side(&s, [127, 0, 0, 9], &[]), STABLE));
    assert!(s.pre.hits() > 0 && s.prod.hits() > 0);
}

#[test]
fn redis_cluster_list() {
    let cluster = crate::common::redis::RedisCluster::start();
    let seeds: Vec<String> = cluster.urls().iter().map(|u| format!("{u:?}")).collect();
    cluster.nodes[0].cli(&["-c", "SET", "gray", "127.0.0.2"]);
    let s = setup(&format!(
        r#"{{ redis = {{ mode = "cluster", addresses = [{}] }}, key = "gray", refresh = "200ms" }}"#,
        seeds.join(", ")
    ));
    assert!(is(side(&s, [127, 0, 0, 2], &[]), CANARY));
    assert!(is(side(&s, [127, 0, 0, 3], &[]), STABLE));
    cluster.nodes[1].cli(&["-c", "SET", "gray", "127.0.0.3"]);
    lands(&s, [127, 0, 0, 3], CANARY, Duration::from_secs(1));
}
