//! Tiered cache levels, write-backs, TTLs, negative caching and load coalescing, against a
//! real standalone `redis-server` and a real HTTP origin.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::common::cache_env::{found, loader, node, origin, sync_conn, TTLS};
use crate::common::eventually;
use crate::common::redis::RedisServer;
use edgeproxy::cache::{CacheLevel, CacheSpec, TieredCache, Ttls};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_and_write_backs() {
    let redis = RedisServer::start();
    let origin = origin().start();
    let http = loader(&origin);
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);

    let r = a.get("/p/1", &TTLS, &http).await.unwrap();
    assert_eq!(
        (r.level, found(&r)),
        (CacheLevel::Origin, origin.body("/p/1"))
    );
    let r = a.get("/p/1", &TTLS, &http).await.unwrap();
    assert_eq!(r.level, CacheLevel::L1);
    let r = b.get("/p/1", &TTLS, &http).await.unwrap();
    assert_eq!((r.level, found(&r)), (CacheLevel::L2, origin.body("/p/1")));
    let r = b.get("/p/1", &TTLS, &http).await.unwrap();
    assert_eq!(r.level, CacheLevel::L1);
    assert_eq!(origin.hits(), 1);

    // L2 holds the value for fresh + grace, and the lock was released.
    let mut c = sync_conn(&redis.url());
    let pttl: i64 = redis::cmd("PTTL").arg("t:/p/1").query(&mut c).unwrap();
    assert!(pttl > 60_000 && pttl <= 90_000, "pttl {pttl}");
    let metrics = prometheus::TextEncoder::new()
        .encode_to_string(&prometheus::default_registry().gather())
        .unwrap();
    for level in ["L1", "L2", "ORIGIN"] {
        let line = format!("edgeproxy_cache_lookups_total{{cache=\"-\",level=\"{level}\"}}");
        assert!(metrics.contains(&line), "{line} missing in:\n{metrics}");
    }
    assert!(metrics.contains("edgeproxy_cache_breaker_open{cache=\"-\"}"));
    let lock: bool = redis::cmd("EXISTS")
        .arg("t:lock:/p/1")
        .query(&mut c)
        .unwrap();
    assert!(!lock, "rebuild lock must be released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry_reloads_from_origin() {
    let redis = RedisServer::start();
    let origin = origin().start();
    let http = loader(&origin);
    let cache = node(&redis.url()).await;
    let ttls = Ttls {
        fresh: Duration::from_millis(300),
        ..TTLS
    };

    assert_eq!(
        cache.get("/t", &ttls, &http).await.unwrap().level,
        CacheLevel::Origin
    );
    origin.set_version(2);
    let levels = Mutex::new(Vec::new());
    eventually(
        "the fresh value to expire",
        Duration::from_secs(5),
        || async {
            let r = cache.get("/t", &ttls, &http).await.unwrap();
            levels.lock().unwrap().push(r.level);
            if r.level == CacheLevel::Origin {
                assert_eq!(found(&r), origin.body("/t"));
                return true;
            }
            assert_eq!(found(&r), "v0:/t", "fresh value served until expiry");
            false
        },
    )
    .await
    .unwrap_or_else(|e| panic!("{e}: {levels:?}"));
    let levels = levels.into_inner().unwrap();
    assert_eq!(levels[0], CacheLevel::L1);
    assert_eq!(origin.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_caching_of_404() {
    let redis = RedisServer::start();
    let origin = origin().start();
    let http = loader(&origin);
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    let ttls = Ttls {
        negative: Duration::from_millis(400),
        ..TTLS
    };
    origin.set_status(404);

    let r = a.get("/missing", &ttls, &http).await.unwrap();
    assert_eq!((r.value, r.level), (None, CacheLevel::Origin));
    let r = a.get("/missing", &ttls, &http).await.unwrap();
    assert_eq!((r.value, r.level), (None, CacheLevel::L1));
    let r = b.get("/missing", &ttls, &http).await.unwrap();
    assert_eq!((r.value, r.level), (None, CacheLevel::L2));
    assert_eq!(origin.hits(), 1);

    // The negative entry has its own (short) lifetime.
    origin.set_status(200);
    eventually(
        "the negative entry to expire",
        Duration::from_secs(5),
        || async {
            let r = a.get("/missing", &ttls, &http).await.unwrap();
            if r.value.is_some() {
                assert_eq!(r.level, CacheLevel::Origin);
            }
            r.value.is_some()
        },
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_gets_on_one_engine_hit_origin_once() {
    let redis = RedisServer::start();
    let origin = origin().delay(Duration::from_millis(100)).start();
    let http = Arc::new(loader(&origin));
    let cache = node(&redis.url()).await;
    let mut tasks = Vec::new();
    for _ in 0..500 {
        let (cache, http) = (cache.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            cache.get("/hot", &TTLS, &*http).await
        }));
    }
    for t in tasks {
        let r = t.await.unwrap().unwrap();
        assert_eq!(found(&r), "v0:/hot");
    }
    assert_eq!(origin.hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_share_the_rebuild_lock() {
    let redis = RedisServer::start();
    let origin = origin().delay(Duration::from_millis(150)).start();
    let http = Arc::new(loader(&origin));
    let url = redis.url();
    let nodes: Vec<_> = futures::future::join_all((0..3).map(|_| node(&url))).await;
    for key in ["/k/1", "/k/2", "/k/3"] {
        let mut tasks = Vec::new();
        for node in &nodes {
            for _ in 0..30 {
                let (c, http) = (node.clone(), http.clone());
                tasks.push(tokio::spawn(async move { c.get(key, &TTLS, &*http).await }));
            }
        }
        let mut levels = Vec::new();
        for t in tasks {
            let r = t.await.unwrap().unwrap();
            assert_eq!(found(&r), format!("v0:{key}"));
            levels.push(r.level);
        }
        let hits = origin.hits_for(key);
        assert!((1..=2).contains(&hits), "{key}: {hits} origin hits");
        assert!(
            levels.contains(&CacheLevel::L2),
            "losers should be served from L2"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_is_bounded_in_bytes_without_redis() {
    let origin = origin().start();
    let http = loader(&origin);
    let cache = TieredCache::new(CacheSpec::local(64 << 10));
    let pad = "x".repeat(4000);
    for i in 0..100 {
        let r = cache
            .get(&format!("/big/{i}?{pad}"), &TTLS, &http)
            .await
            .unwrap();
        assert_eq!(r.level, CacheLevel::Origin);
    }
    let size = cache.l1_weighted_size().await;
    assert!(size > 0 && size <= 64 << 10, "L1 holds {size} bytes");
    assert!(
        !cache.start_background(),
        "no background work without Redis"
    );
}
