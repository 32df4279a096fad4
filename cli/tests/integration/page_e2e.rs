//! The product page end to end: real binary (two application nodes sharing a real
//! redis-server), a real origin that counts hits. Levels and write-backs, negative caching,
//! bad input that never reaches Redis or the origin, coalesced cold misses, Redis dying
//! mid-load, and stale-if-error.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::edge::Edge;
use crate::common::origin::Origin;
use crate::common::redis::RedisServer;
use crate::common::{client, wait_until};

const PRODUCT: &str = r#"{"productId":1,"productName":"Phone <X>"}"#;
const SHOP: &str = r#"{"shopId":1,"shopName":"Shop & Co"}"#;

fn node_config(
    port: u16,
    admin: u16,
    origin: SocketAddr,
    redis_port: u16,
    template: &str,
) -> String {
    format!(
        r#"
[[servers]]
name = "admin"
listen = ["127.0.0.1:{admin}"]
[[servers.routes]]
path = "/purge"
plugins = [{{ name = "admin-token", config = {{ token_env = "EDGEPROXY_ADMIN_TOKEN" }} }}, {{ name = "cache-purge" }}]

[upstreams.origin]
servers = [{{ addr = "{origin}" }}]
max_fails = 0

[caches.main]
l1_capacity = "16MiB"
[caches.main.redis]
mode = "single"
addresses = ["127.0.0.1:{redis_port}"]
timeout = "100ms"
breaker_failures = 3
breaker_cooldown = "1s"

[[servers]]
listen = ["127.0.0.1:{port}"]

[[servers.routes]]
path = "/product"

[[servers.routes.plugins]]
name = "page"
[servers.routes.plugins.config]
cache = "main"
template = "{template}"
render_cache = "1MiB"
params = {{ productId = {{ pattern = "[0-9]{{1,12}}" }}, shopId = {{ pattern = "[0-9]{{1,12}}" }} }}
sources = [
  {{ name = "product", key = "product_info_{{productId}}", origin = "origin", path = "/p/{{productId}}", ttl = "3s", negative_ttl = "10s", stale_grace = "1h" }},
  {{ name = "shop", key = "shop_info_{{shopId}}", origin = "origin", path = "/s/{{shopId}}", ttl = "10m" }},
]
"#
    )
}

struct Env {
    a: SocketAddr,
    b: SocketAddr,
    admin_a: SocketAddr,
    origin: Origin,
    redis: RedisServer,
    _edges: (Edge, Edge),
    _tpl: tempfile::TempDir,
}

fn setup() -> Env {
    let origin = Origin::builder()
        .status(404)
        .route("/p/1", 200, PRODUCT)
        .route("/s/1", 200, SHOP)
        .start();
    let redis = RedisServer::start();
    let tpl = tempfile::tempdir().unwrap();
    let template = tpl.path().join("page.hbs");
    std::fs::write(&template, "{{product.productName}} @ {{shop.shopName}}").unwrap();
    let template = template.display().to_string();
    let env = [("EDGEPROXY_ADMIN_TOKEN", "t0ken")];
    let cfg = node_config(0, 0, origin.addr, redis.node.port, &template);
    let ea = Edge::start_with(&cfg, &env);
    let eb = Edge::start_with(&cfg, &env);
    // The admin block comes first in the config.
    let ([admin_a, a], [_, b]) = (ea.listening(), eb.listening());
    Env {
        a,
        b,
        admin_a,
        origin,
        redis,
        _edges: (ea, eb),
        _tpl: tpl,
    }
}

fn page(node: SocketAddr, query: &str) -> (u16, String, String) {
    let r = client()
        .get(format!("http://{node}/product?{query}"))
        .send()
        .unwrap();
    let status = r.status().as_u16();
    let level = r
        .headers()
        .get("x-cache")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    (status, level, r.text().unwrap())
}

/// Waits until each node's purge subscriber is listening (its first subscription demotes
/// whatever L1 held): a negative-cached 404 for `shopId` then answers from L1.
fn wait_nodes_ready(env: &Env, shop: &str) {
    for node in [env.a, env.b] {
        let query = format!("productId=9&shopId={shop}");
        wait_until(
            &format!("node {node} to answer from L1"),
            Duration::from_secs(10),
            || page(node, &query).1 == "L1",
        )
        .unwrap();
    }
}

#[test]
fn product_page_through_the_cache_tiers() {
    let env = setup();
    wait_nodes_ready(&env, "1");

    // Levels and write-backs: origin on node A, then A's L1, then B finds it in Redis.
    let (s, level, body) = page(env.a, "productId=1&shopId=1");
    assert_eq!((s, level.as_str()), (200, "ORIGIN"));
    assert_eq!(body, "Phone &lt;X&gt; @ Shop &amp; Co", "HTML-escaped");
    assert_eq!(page(env.a, "productId=1&shopId=1").1, "L1");
    assert_eq!(page(env.b, "productId=1&shopId=1").1, "L2");
    assert_eq!(page(env.b, "productId=1&shopId=1").1, "L1");
    assert_eq!(
        (env.origin.hits_for("/p/1"), env.origin.hits_for("/s/1")),
        (1, 1)
    );
    assert!(env
        .redis
        .node
        .cli(&["EXISTS", "ep:product_info_1"])
        .contains('1'));

    // Bad input: 400, and nothing reaches Redis or the origin.
    let before = (env.origin.hits(), env.redis.node.cli(&["DBSIZE"]));
    for q in [
        "productId=abc&shopId=1",
        "productId=1%0D%0ASet-Cookie:%20x&shopId=1",
        "productId=..%2F..%2Fetc%2Fpasswd&shopId=1",
        "productId=1234567890123&shopId=1",
        "productId=1&productId=2&shopId=1",
        "shopId=1",
    ] {
        assert_eq!(page(env.a, q).0, 400, "{q}");
    }
    assert_eq!((env.origin.hits(), env.redis.node.cli(&["DBSIZE"])), before);

    // Negative caching: an origin 404 is a 404 page, remembered for negative_ttl.
    assert_eq!(page(env.a, "productId=404&shopId=1").0, 404);
    assert_eq!(page(env.a, "productId=404&shopId=1").0, 404);
    assert_eq!(page(env.b, "productId=404&shopId=1").0, 404);
    assert_eq!(env.origin.hits_for("/p/404"), 1);

    // 300 concurrent requests for one cold key on one node: one origin request.
    env.origin.set_route("/p/7", 200, PRODUCT);
    let a = env.a;
    let threads: Vec<_> = (0..300)
        .map(|_| std::thread::spawn(move || page(a, "productId=7&shopId=1").0))
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    assert_eq!(env.origin.hits_for("/p/7"), 1);

    // Stale-if-error: product 1 expires (ttl 3s), the origin fails: the stale copy is served.
    env.origin.set_route("/p/1", 500, "boom");
    wait_until(
        "a STALE answer once the fresh copy expired",
        Duration::from_secs(10),
        || page(env.a, "productId=1&shopId=1").1 == "STALE",
    )
    .unwrap();
    let (s, _, body) = page(env.a, "productId=1&shopId=1");
    assert_eq!((s, body.as_str()), (200, "Phone &lt;X&gt; @ Shop &amp; Co"));
    // Nothing stale for a never-seen product: a clear 502.
    env.origin.set_route("/p/8", 500, "boom");
    let (s, _, body) = page(env.a, "productId=8&shopId=1");
    assert_eq!(s, 502);
    assert!(body.contains("origin unavailable"), "{body}");
}

#[test]
fn purge_on_one_node_makes_every_node_miss() {
    let env = setup();
    env.origin.set_route("/s/2", 200, SHOP);
    wait_nodes_ready(&env, "2");
    // Warm both nodes' L1 with product 1 (ttl 3s; the check below allows the broadcast 1s,
    // so an entry that merely expired cannot pass for a purged one).
    page(env.a, "productId=1&shopId=2");
    assert_eq!(page(env.a, "productId=1&shopId=2").1, "L1");
    page(env.b, "productId=1&shopId=2");
    assert_eq!(page(env.b, "productId=1&shopId=2").1, "L1");
    let hits_before = env.origin.hits_for("/p/1");
    // The product changes at the origin; the purge must make the new version visible (the
    // rendered-page memo must not keep the old page).
    env.origin
        .set_route("/p/1", 200, r#"{"productId":1,"productName":"Phone v2"}"#);
    let r = client()
        .post(format!(
            "http://{}/purge?cache=main&key=product_info_1",
            env.admin_a
        ))
        .header("authorization", "Bearer t0ken")
        .send()
        .unwrap();
    assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    // Node B heard the broadcast: its next lookup misses L1 (and Redis), so the origin is asked.
    wait_until(
        "node B to miss its L1 after the purge",
        Duration::from_secs(1),
        || page(env.b, "productId=1&shopId=2").1 == "ORIGIN",
    )
    .unwrap();
    assert_eq!(
        page(env.b, "productId=1&shopId=2").2,
        "Phone v2 @ Shop &amp; Co"
    );
    assert_eq!(env.origin.hits_for("/p/1"), hits_before + 1);
    // Node A now finds the fresh copy node B wrote back to Redis.
    assert_eq!(page(env.a, "productId=1&shopId=2").1, "L2");
}

#[test]
fn redis_dying_mid_load_never_fails_a_request() {
    let mut env = setup();
    env.origin.set_route("/p/2", 200, PRODUCT);
    assert_eq!(page(env.a, "productId=1&shopId=1").0, 200);
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let a = env.a;
    let workers: Vec<_> = (0..4)
        .map(|i| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                let mut codes = Vec::new();
                let mut n = 0;
                while !stop.load(Ordering::SeqCst) && n < 2000 {
                    let id = if (n + i) % 2 == 0 { 1 } else { 2 };
                    codes.push(page(a, &format!("productId={id}&shopId=1")).0);
                    done.fetch_add(1, Ordering::SeqCst);
                    n += 1;
                }
                codes
            })
        })
        .collect();
    wait_until("the load to run", Duration::from_secs(10), || {
        done.load(Ordering::SeqCst) >= 50
    })
    .unwrap();
    // Not synchronisation: how long Redis stays frozen, then dead, under load is the
    // scenario (long enough for timeouts, the breaker and the lost subscription to act).
    env.redis.node.freeze();
    std::thread::sleep(Duration::from_millis(500));
    env.redis.node.thaw();
    env.redis.node.kill();
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let codes: Vec<u16> = workers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(codes.len() > 20, "load ran: {}", codes.len());
    assert!(
        codes.iter().all(|c| *c == 200),
        "non-200 under Redis failure: {:?}",
        codes.iter().filter(|c| **c != 200).count()
    );
    // Node B, which never saw these keys, still answers from the origin with Redis dead.
    assert_eq!(page(env.b, "productId=2&shopId=1").0, 200);
}
