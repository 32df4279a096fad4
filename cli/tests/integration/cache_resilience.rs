//! Tiered cache under failure (Redis frozen or killed, origin down) and invalidation
//! across nodes, against a real standalone `redis-server` and a real HTTP origin.

use std::sync::Arc;
use std::time::Duration;

use crate::common::cache_env::{found, loader, node, origin, within, TTLS};
use crate::common::eventually;
use crate::common::redis::RedisServer;
use edgeproxy::cache::{CacheLevel, Ttls};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_frozen_or_killed_gets_still_answered_and_breaker_cycles() {
    let mut redis = RedisServer::start();
    let origin = origin().start();
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
    eventually(
        "all 20 loads at the origin",
        Duration::from_secs(5),
        || async { origin.hits() >= 21 },
    )
    .await
    .unwrap();
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
    let mut i = 0;
    eventually("the breaker to close", Duration::from_secs(10), || {
        i += 1;
        let (key, cache, http) = (format!("/h/{i}"), &cache, &http);
        async move {
            within(cache.get(&key, &TTLS, &**http)).await.unwrap();
            !cache.breaker_open()
        }
    })
    .await
    .unwrap();

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
    let mut origin = origin().start();
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
    origin.set_status(500);
    // Not synchronisation: the time past the 200ms freshness is what is under test (L2's
    // copy has no observable "expired" state short of the lookup below).
    tokio::time::sleep(Duration::from_millis(300)).await;
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
    let origin = origin().start();
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

    nodes[0].purge("/b/1").await.result().unwrap();
    assert!(!nodes[0].l1_fresh("/b/1").await);
    eventually("purge broadcast", Duration::from_secs(5), || async {
        !nodes[1].l1_fresh("/b/1").await && !nodes[2].l1_fresh("/b/1").await
    })
    .await
    .unwrap();
    assert!(nodes[1].l1_fresh("/a/1").await);
    assert_eq!(
        nodes[1].get("/b/1", &TTLS, &http).await.unwrap().level,
        CacheLevel::Origin
    );
    assert_eq!(
        nodes[2].get("/b/1", &TTLS, &http).await.unwrap().level,
        CacheLevel::L2
    );

    let deleted = nodes[2].purge_prefix("/a/").await.result().unwrap();
    assert_eq!(deleted, 2);
    eventually("prefix purge broadcast", Duration::from_secs(5), || async {
        for n in &nodes {
            if n.l1_fresh("/a/1").await || n.l1_fresh("/a/2").await {
                return false;
            }
        }
        true
    })
    .await
    .unwrap();
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
async fn a_failed_redis_delete_still_broadcasts_the_purge() {
    let redis = RedisServer::start();
    let origin = origin().start();
    let http = loader(&origin);
    let url = redis.url();
    let nodes: Vec<_> = futures::future::join_all((0..2).map(|_| node(&url))).await;
    for n in &nodes {
        n.get("/k", &TTLS, &http).await.unwrap();
        assert!(n.l1_fresh("/k").await);
    }
    // Redis refuses DEL (as with an ACL missing it) but still relays PUBLISH.
    assert_eq!(
        redis
            .node
            .cli(&["ACL", "SETUSER", "default", "-del"])
            .trim(),
        "OK"
    );

    let report = within(nodes[0].purge("/k")).await;
    let delete = report.redis_delete.as_ref().map(|r| r.as_ref().err());
    let why = delete.flatten().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        why.contains("redis delete of \"/k\" failed") && why.contains("NOPERM"),
        "{report:?}"
    );
    assert!(matches!(report.broadcast, Some(Ok(()))), "{report:?}");
    assert!(!report.complete());
    eventually(
        "the other node's L1 drop",
        Duration::from_secs(5),
        || async { !nodes[1].l1_fresh("/k").await },
    )
    .await
    .unwrap();
    assert_eq!(
        redis.node.cli(&["EXISTS", "t:/k"]).trim(),
        "1",
        "DEL was refused"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_subscription_demotes_l1_to_stale() {
    let mut redis = RedisServer::start();
    let origin = origin().start();
    let http = loader(&origin);
    let cache = node(&redis.url()).await;
    cache.get("/x", &TTLS, &http).await.unwrap();
    assert!(cache.l1_fresh("/x").await);
    redis.node.kill();
    eventually("L1 demoted", Duration::from_secs(5), || async {
        !cache.l1_fresh("/x").await
    })
    .await
    .unwrap();
    assert!(!cache.is_subscribed());
    // Demoted, not dropped: with Redis and the origin down the old value is still served,
    // marked stale; never as fresh from L1.
    origin.set_status(500);
    let r = within(cache.get("/x", &TTLS, &http)).await.unwrap();
    assert_eq!(
        (r.level, found(&r)),
        (CacheLevel::Stale, "v0:/x".to_string())
    );
    redis.node.restart();
    eventually("resubscribed", Duration::from_secs(10), || async {
        cache.is_subscribed()
    })
    .await
    .unwrap();
}
