//! Tiered cache against a real standalone `redis-server` and a real HTTP origin.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cache_origin::{Mode, Origin};
use common::redis::{eventually, RedisServer};
use edgeproxy::cache::{
    CacheLevel, CacheSpec, HttpOrigin, HttpOriginLimits, Lookup, RedisMode, RedisSpec, TieredCache,
    Ttls,
};

const TTLS: Ttls = Ttls {
    fresh: Duration::from_secs(30),
    negative: Duration::from_secs(30),
    stale_grace: Duration::from_secs(60),
};

fn spec(url: &str) -> CacheSpec {
    let mut r = RedisSpec::new(RedisMode::Single(url.to_string()));
    r.timeout = Duration::from_millis(100);
    r.connect_timeout = Duration::from_millis(300);
    r.breaker_failures = 3;
    r.breaker_cooldown = Duration::from_millis(300);
    r.lock_ttl = Duration::from_secs(3);
    r.lock_wait = Duration::from_secs(1);
    r.key_prefix = "t:".into();
    CacheSpec {
        l1_capacity_bytes: 16 << 20,
        redis: Some(r),
    }
}

/// An engine whose purge subscriber is already listening (its first subscription clears
/// L1, which would otherwise race with the level assertions).
async fn node(url: &str) -> TieredCache {
    let c = TieredCache::new(spec(url));
    assert!(c.start_background());
    let start = Instant::now();
    while !c.is_subscribed() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "subscriber never listened"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    c
}

fn loader(o: &Origin) -> HttpOrigin {
    let a = o.addr;
    let limits = HttpOriginLimits {
        request_timeout: Duration::from_secs(3),
        ..HttpOriginLimits::default()
    };
    HttpOrigin::new(move || Some(a), limits).unwrap()
}

fn found(l: &Lookup) -> String {
    String::from_utf8(l.value.clone().expect("a value").to_vec()).unwrap()
}

fn sync_conn(url: &str) -> redis::Connection {
    redis::Client::open(url).unwrap().get_connection().unwrap()
}

/// Hang detector: a call must return within 2s.
async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(2), f)
        .await
        .expect("cache call hung for more than 2s")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_and_write_backs() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
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
        let line = format!("edgeproxy_cache_lookups_total{{level=\"{level}\"}}");
        assert!(metrics.contains(&line), "{line} missing in:\n{metrics}");
    }
    assert!(metrics.contains("edgeproxy_cache_breaker_open"));
    let lock: bool = redis::cmd("EXISTS")
        .arg("t:lock:/p/1")
        .query(&mut c)
        .unwrap();
    assert!(!lock, "rebuild lock must be released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_expiry_reloads_from_origin() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
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
    let start = Instant::now();
    let mut levels = Vec::new();
    loop {
        let r = cache.get("/t", &ttls, &http).await.unwrap();
        levels.push(r.level);
        if r.level == CacheLevel::Origin {
            assert_eq!(found(&r), origin.body("/t"));
            break;
        }
        assert_eq!(found(&r), "v0:/t", "fresh value served until expiry");
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "never expired: {levels:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(levels[0], CacheLevel::L1);
    assert_eq!(origin.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn negative_caching_of_404() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
    let http = loader(&origin);
    let (a, b) = (node(&redis.url()).await, node(&redis.url()).await);
    let ttls = Ttls {
        negative: Duration::from_millis(400),
        ..TTLS
    };
    origin.set_mode(Mode::NotFound);

    let r = a.get("/missing", &ttls, &http).await.unwrap();
    assert_eq!((r.value, r.level), (None, CacheLevel::Origin));
    let r = a.get("/missing", &ttls, &http).await.unwrap();
    assert_eq!((r.value, r.level), (None, CacheLevel::L1));
    let r = b.get("/missing", &ttls, &http).await.unwrap();
    assert_eq!((r.value, r.level), (None, CacheLevel::L2));
    assert_eq!(origin.hits(), 1);

    // The negative entry has its own (short) lifetime.
    origin.set_mode(Mode::Ok);
    let start = Instant::now();
    loop {
        let r = a.get("/missing", &ttls, &http).await.unwrap();
        if r.value.is_some() {
            assert_eq!(r.level, CacheLevel::Origin);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "negative entry never expired"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_gets_on_one_engine_hit_origin_once() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
    origin.set_delay(Duration::from_millis(100));
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
    let origin = Origin::start().await;
    origin.set_delay(Duration::from_millis(150));
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
async fn redis_frozen_or_killed_gets_still_answered_and_breaker_cycles() {
    let mut redis = RedisServer::start();
    let origin = Origin::start().await;
    let http = Arc::new(loader(&origin));
    let cache = node(&redis.url()).await;
    within(cache.get("/warm", &TTLS, &*http)).await.unwrap();

    // Freeze Redis while loads are in flight (their L2 write-back will time out).
    origin.set_delay(Duration::from_millis(200));
    let mut tasks = Vec::new();
    for i in 0..20 {
        let (c, http) = (cache.clone(), http.clone());
        tasks.push(tokio::spawn(async move {
            within(c.get(&format!("/f/{i}"), &TTLS, &*http)).await
        }));
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    redis.node.freeze();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    for i in 0..20 {
        let r = within(cache.get(&format!("/g/{i}"), &TTLS, &*http))
            .await
            .unwrap();
        assert_eq!(r.level, CacheLevel::Origin);
    }
    assert_eq!(
        within(cache.get("/warm", &TTLS, &*http))
            .await
            .unwrap()
            .level,
        CacheLevel::L1
    );
    assert!(cache.breaker_open(), "breaker opens while Redis is frozen");

    // Thawed: after the cool-down a probe closes the breaker.
    redis.node.thaw();
    origin.set_delay(Duration::ZERO);
    let start = Instant::now();
    let mut i = 0;
    while cache.breaker_open() {
        i += 1;
        within(cache.get(&format!("/h/{i}"), &TTLS, &*http))
            .await
            .unwrap();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "breaker never closed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Killed: still answered, breaker opens again.
    redis.node.kill();
    for i in 0..20 {
        within(cache.get(&format!("/k/{i}"), &TTLS, &*http))
            .await
            .unwrap();
    }
    assert!(cache.breaker_open());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_served_when_origin_and_redis_fail() {
    let mut redis = RedisServer::start();
    let mut origin = Origin::start().await;
    let http = loader(&origin);
    let ttls = Ttls {
        fresh: Duration::from_millis(200),
        ..TTLS
    };
    let a = node(&redis.url()).await;
    assert_eq!(
        a.get("/s", &ttls, &http).await.unwrap().level,
        CacheLevel::Origin
    );

    // Origin failing, Redis up: a node with an empty L1 serves L2's stale copy.
    origin.set_mode(Mode::Error);
    tokio::time::sleep(Duration::from_millis(300)).await; // let the value expire
    let b = node(&redis.url()).await;
    let r = b.get("/s", &ttls, &http).await.unwrap();
    assert_eq!(
        (r.level, found(&r)),
        (CacheLevel::Stale, "v0:/s".to_string())
    );
    // Repeated from L1 for a short while, without hammering the failing origin.
    let hits = origin.hits();
    let r = b.get("/s", &ttls, &http).await.unwrap();
    assert_eq!(r.level, CacheLevel::Stale);
    assert_eq!(origin.hits(), hits);

    // Origin stopped and Redis killed: L1's stale copy.
    origin.stop();
    redis.node.kill();
    let r = within(a.get("/s", &ttls, &http)).await.unwrap();
    assert_eq!(
        (r.level, found(&r)),
        (CacheLevel::Stale, "v0:/s".to_string())
    );

    // Nothing stale to serve: a clear error.
    let err = within(a.get("/never", &ttls, &http)).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("/never") && msg.contains("no stale copy"),
        "{msg}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn purge_reaches_every_node() {
    let redis = RedisServer::start();
    let origin = Origin::start().await;
    let http = loader(&origin);
    let url = redis.url();
    let nodes: Vec<_> = futures::future::join_all((0..3).map(|_| node(&url))).await;
    for n in &nodes {
        assert!(n.start_background());
    }
    for key in ["/a/1", "/a/2", "/b/1"] {
        for n in &nodes {
            n.get(key, &TTLS, &http).await.unwrap();
        }
    }
    assert_eq!(origin.hits(), 3);

    nodes[0].purge("/b/1").await.unwrap();
    assert!(!nodes[0].l1_fresh("/b/1").await);
    eventually("purge broadcast", Duration::from_secs(5), || async {
        !nodes[1].l1_fresh("/b/1").await && !nodes[2].l1_fresh("/b/1").await
    })
    .await;
    assert!(nodes[1].l1_fresh("/a/1").await);
    assert_eq!(
        nodes[1].get("/b/1", &TTLS, &http).await.unwrap().level,
        CacheLevel::Origin
    );
    assert_eq!(
        nodes[2].get("/b/1", &TTLS, &http).await.unwrap().level,
        CacheLevel::L2
    );

    let deleted = nodes[2].purge_prefix("/a/").await.unwrap();
    assert_eq!(deleted, 2);
    eventually("prefix purge broadcast", Duration::from_secs(5), || async {
        for n in &nodes {
            if n.l1_fresh("/a/1").await || n.l1_fresh("/a/2").await {
                return false;
            }
        }
        true
    })
    .await;
    assert!(nodes[1].l1_fresh("/b/1").await && nodes[2].l1_fresh("/b/1").await);
    for n in &nodes {
        assert_ne!(
            n.get("/a/1", &TTLS, &http).await.unwrap().level,
            CacheLevel::L1
        );
    }
    assert_eq!(origin.hits_for("/a/1"), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_subscription_demotes_l1_to_stale() {
    let mut redis = RedisServer::start();
    let origin = Origin::start().await;
    let http = loader(&origin);
    let cache = node(&redis.url()).await;
    cache.get("/x", &TTLS, &http).await.unwrap();
    assert!(cache.l1_fresh("/x").await);
    redis.node.kill();
    eventually("L1 demoted", Duration::from_secs(5), || async {
        !cache.l1_fresh("/x").await
    })
    .await;
    assert!(!cache.is_subscribed());
    // Demoted, not dropped: with Redis and the origin down the old value is still served,
    // marked stale; never as fresh from L1.
    origin.set_mode(Mode::Error);
    let r = within(cache.get("/x", &TTLS, &http)).await.unwrap();
    assert_eq!(
        (r.level, found(&r)),
        (CacheLevel::Stale, "v0:/x".to_string())
    );
    redis.node.restart();
    eventually("resubscribed", Duration::from_secs(10), || async {
        cache.is_subscribed()
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l1_is_bounded_in_bytes_without_redis() {
    let origin = Origin::start().await;
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
