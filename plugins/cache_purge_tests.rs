use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use edgeproxy::kit::async_trait;
use edgeproxy::kit::{CacheSpec, LoadError, Loaded, Loader, RedisMode, RedisSpec, Ttls};

use super::*;

const TTLS: Ttls = Ttls {
    fresh: Duration::from_secs(60),
    negative: Duration::from_secs(60),
    stale_grace: Duration::from_secs(60),
};

struct Fixed;

#[async_trait]
impl Loader for Fixed {
    async fn load(&self, key: &str) -> Result<Loaded, LoadError> {
        Ok(Loaded::Found(Bytes::from(format!("value of {key}"))))
    }
}

fn plugin(caches: Vec<(&str, TieredCache)>) -> CachePurge {
    let map: BTreeMap<String, TieredCache> = caches
        .into_iter()
        .map(|(n, c)| (n.to_string(), c))
        .collect();
    CachePurge::new(Arc::new(map))
}

async fn call(p: &CachePurge, method: &str, uri: &str) -> (u16, serde_json::Value) {
    let req = RequestHeader::build(method, uri.as_bytes(), None).unwrap();
    let resp = p
        .content(&req, &mut RequestCtx::for_test())
        .await
        .unwrap()
        .expect("cache-purge always answers");
    let body = serde_json::from_slice(&resp.body).unwrap();
    (resp.status(), body)
}

#[test]
fn query_parsing() {
    let ok = |q: &str| parse_query(q).unwrap();
    assert_eq!(
        ok("cache=main&key=product%3A1"),
        PurgeRequest {
            cache: "main".into(),
            target: Target::Key("product:1".into())
        }
    );
    assert_eq!(
        ok("prefix=p%2F&cache=c").target,
        Target::Prefix("p/".into())
    );
    assert_eq!(
        ok("tag=product-1&cache=c").target,
        Target::Tag("product-1".into())
    );
    for (q, msg) in [
        ("key=a", "missing parameter `cache`"),
        ("cache=main", "give `key=K` or `prefix=P`"),
        ("cache=main&key=a&prefix=b", "not both"),
        ("cache=main&tag=a&prefix=b", "not both"),
        ("cache=main&tag=", "`tag` must not be empty"),
        ("cache=main&key=", "`key` must not be empty"),
        ("cache=main&prefix=", "`prefix` must not be empty"),
        ("cache=main&key=a&key=b", "more than once"),
        ("cache=main&prefx=a", "unknown parameter `prefx`"),
    ] {
        let err = parse_query(q).unwrap_err().to_string();
        assert!(err.contains(msg), "{q}: {err}");
    }
}

#[tokio::test]
async fn only_post_and_bad_requests_list_known_caches() {
    let p = plugin(vec![
        ("main", TieredCache::new(CacheSpec::local(1 << 20))),
        ("pages", TieredCache::new(CacheSpec::local(1 << 20))),
    ]);
    let req = RequestHeader::build("GET", b"/purge?cache=main&key=a", None).unwrap();
    let resp = p
        .content(&req, &mut RequestCtx::for_test())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.header.headers["allow"], "POST");

    let (status, body) = call(&p, "POST", "/purge?cache=nope&key=a").await;
    assert_eq!(status, 400);
    let err = body["error"].as_str().unwrap();
    assert!(
        err.contains("unknown cache `nope`") && err.contains("main, pages"),
        "{err}"
    );

    let (status, body) = call(&p, "POST", "/purge?cache=main").await;
    assert_eq!(status, 400);
    assert!(body["error"].as_str().unwrap().contains("main, pages"));
}

#[tokio::test]
async fn key_and_prefix_purges_drop_l1_entries() {
    let cache = TieredCache::new(CacheSpec::local(1 << 20));
    for k in ["product:1", "product:2", "shop:1"] {
        cache.get(k, &TTLS, &Fixed).await.unwrap();
        assert!(cache.l1_fresh(k).await);
    }
    let p = plugin(vec![("main", cache.clone())]);

    let (status, body) = call(&p, "POST", "/purge?cache=main&key=product%3A1").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({"cache": "main", "key": "product:1", "purged": true, "scope": "this-node",
            "steps": {"local_l1": "done", "redis_delete": "skipped", "broadcast": "skipped"}})
    );
    assert!(!cache.l1_fresh("product:1").await);
    assert!(cache.l1_fresh("product:2").await);

    let (status, body) = call(&p, "POST", "/purge?cache=main&prefix=product").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["prefix"], "product");
    assert!(!cache.l1_fresh("product:2").await);
    assert!(cache.l1_fresh("shop:1").await, "other prefixes stay");
}

#[tokio::test]
async fn redis_unreachable_is_502_but_local_l1_is_dropped() {
    // Port 1 on loopback: nothing listens, connections are refused at once.
    let mut redis = RedisSpec::new(RedisMode::Single("redis://127.0.0.1:1/".into()));
    redis.connect_timeout = Duration::from_millis(200);
    redis.timeout = Duration::from_millis(100);
    let cache = TieredCache::new(CacheSpec {
        l1_capacity_bytes: 1 << 20,
        redis: Some(redis),
    });
    cache.get("k", &TTLS, &Fixed).await.unwrap();
    assert!(cache.l1_fresh("k").await, "origin value written to L1");
    let p = plugin(vec![("main", cache.clone())]);

    let (status, body) = call(&p, "POST", "/purge?cache=main&key=k").await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["purged"], false);
    assert_eq!(body["scope"], "this-node");
    assert_eq!(
        body["steps"],
        serde_json::json!({"local_l1": "done", "redis_delete": "failed", "broadcast": "failed"})
    );
    let err = body["error"].as_str().unwrap();
    assert!(
        err.contains("redis delete of \"k\" failed")
            && err.contains("broadcast of \"k\" failed")
            && err.contains("L1 was purged")
            && err.contains("retry"),
        "{err}"
    );
    assert!(
        !cache.l1_fresh("k").await,
        "local L1 dropped despite the Redis failure"
    );

    let (status, _) = call(&p, "POST", "/purge?cache=main&prefix=k").await;
    assert_eq!(status, 502);
}

#[test]
fn build_needs_a_cache() {
    let err = CachePurge::build(CachePurgeConfig {}, &crate::test_shared())
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("[caches.NAME]"), "{err}");
}
