//! Redis addresses from Consul KV: a cache whose `addresses_from` names an upstream group
//! fed by Consul connects to the Redis node Consul lists (no address in the config).

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::consul::ConsulDouble;
use common::edge::Edge;
use common::origin::Origin;
use common::redis::RedisServer;
use common::{client, free_port, wait_until};

#[test]
fn redis_node_comes_from_consul() {
    let redis = RedisServer::start();
    let consul = ConsulDouble::start();
    consul.put(&format!("redis/127.0.0.1:{}", redis.node.port), "");
    let origin = Origin::start();
    origin.set_body("/p/1", 200, r#"{"name":"one"}"#);
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("t.hbs");
    std::fs::write(&template, "{{product.name}}").unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let cfg = format!(
        r#"
[upstreams.redis]
[upstreams.redis.consul]
address = "{consul}"
prefix = "redis/"
strong_dependency = true

[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[caches.main]
[caches.main.redis]
mode = "single"
addresses_from = "redis"

[[servers]]
listen = ["{addr}"]
[[servers.routes]]
path = "/product"
[[servers.routes.plugins]]
name = "page"
[servers.routes.plugins.config]
cache = "main"
template = "{template}"
params = {{ productId = {{ pattern = "[0-9]+" }} }}
sources = [{{ name = "product", key = "product_info_{{productId}}", origin = "origin", path = "/p/{{productId}}", ttl = "10m" }}]
"#,
        consul = consul.url(),
        origin = origin.addr,
        template = template.display(),
    );
    let _edge = Edge::start(&cfg, &[addr]);
    let r = client()
        .get(format!("http://{addr}/product?productId=1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "one");
    // The write-back landed in the Redis node that only Consul knew about.
    let written = wait_until(Duration::from_secs(5), || {
        redis
            .node
            .cli(&["EXISTS", "ep:product_info_1"])
            .contains('1')
    });
    assert!(
        written,
        "value never reached the Redis node listed in Consul"
    );
}
