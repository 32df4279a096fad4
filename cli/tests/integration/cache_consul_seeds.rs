//! Redis addresses from Consul KV: a cache whose `addresses_from` names an upstream group
//! fed by Consul connects to the Redis node Consul lists (no address in the config).

use std::time::Duration;

use crate::common::consul::ConsulDouble;
use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::redis::RedisServer;
use crate::common::{client, wait_until};

#[test]
fn redis_node_comes_from_consul() {
    let redis = RedisServer::start();
    let consul = ConsulDouble::start();
    consul.put(&format!("redis/127.0.0.1:{}", redis.node.port), "");
    let origin = Origin::builder()
        .route("/p/1", 200, r#"{"name":"one"}"#)
        .start();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("t.hbs");
    std::fs::write(&template, "{{product.name}}").unwrap();
    let addr = ANY_PORT;
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
    let edge = Edge::start(&cfg);
    let addr = edge.addr();
    let r = client()
        .get(format!("http://{addr}/product?productId=1"))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().unwrap(), "one");
    // The write-back landed in the Redis node that only Consul knew about.
    wait_until(
        "the value in the Redis node listed in Consul",
        Duration::from_secs(5),
        || {
            redis
                .node
                .cli(&["EXISTS", "ep:product_info_1"])
                .contains('1')
        },
    )
    .unwrap();
}
