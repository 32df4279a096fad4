//! Tiered cache against a real 6-node Redis Cluster (3 masters + 3 replicas).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::cache_env::{loader, node_with, origin, spec, TTLS};
use crate::common::eventually;
use crate::common::redis::RedisCluster;
use edgeproxy::cache::{CacheLevel, CacheSpec, RedisMode, Ttls};

/// The shared test spec, with cluster-sized timeouts, breaker and lock wait.
fn cluster_spec(urls: Vec<String>) -> CacheSpec {
    let mut s = spec(RedisMode::Cluster(urls));
    let r = s.redis.as_mut().unwrap();
    r.timeout = Duration::from_millis(150);
    r.connect_timeout = Duration::from_millis(500);
    r.breaker_failures = 5;
    r.lock_wait = Duration::from_millis(500);
    r.key_prefix = "c:".into();
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_levels_lock_and_purge() {
    let cluster = RedisCluster::start();
    let origin = origin().delay(Duration::from_millis(100)).start();
    let http = Arc::new(loader(&origin));
    let nodes: Vec<_> =
        futures::future::join_all((0..3).map(|_| node_with(cluster_spec(cluster.urls())))).await;
    for n in &nodes {
        n.start_background();
    }

    // Keys spread over the slots of all three masters.
    let keys: Vec<String> = (0..12).map(|i| format!("/p/{i}")).collect();
    let mut tasks = Vec::new();
    for key in &keys {
        for n in &nodes {
            for _ in 0..5 {
                let (n, http, key) = (n.clone(), http.clone(), key.clone());
                tasks.push(tokio::spawn(
                    async move { n.get(&key, &TTLS, &*http).await },
                ));
            }
        }
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().value.is_some());
    }
    for key in &keys {
        let hits = origin.hits_for(key);
        assert!((1..=2).contains(&hits), "{key}: {hits} origin hits");
    }
    let fresh = node_with(cluster_spec(cluster.urls())).await;
    for key in &keys {
        assert_eq!(
            fresh.get(key, &TTLS, &*http).await.unwrap().level,
            CacheLevel::L2
        );
    }

    // Prefix purge scans every master.
    let deleted = nodes[0].purge_prefix("/p/").await.result().unwrap();
    assert_eq!(deleted, keys.len() as u64);
    eventually("prefix purge broadcast", Duration::from_secs(5), || async {
        for n in &nodes {
            for k in &keys {
                if n.l1_fresh(k).await {
                    return false;
                }
            }
        }
        true
    })
    .await
    .unwrap();
    let other = node_with(cluster_spec(cluster.urls())).await;
    assert_eq!(
        other.get("/p/3", &TTLS, &*http).await.unwrap().level,
        CacheLevel::Origin
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_failover_under_load_yields_no_errors() {
    let mut cluster = RedisCluster::start();
    let origin = origin().start();
    let http = Arc::new(loader(&origin));
    // Short freshness so that L2 and the origin keep being exercised during the failover.
    let ttls = Ttls {
        fresh: Duration::from_millis(200),
        ..TTLS
    };
    let nodes: Vec<_> =
        futures::future::join_all((0..2).map(|_| node_with(cluster_spec(cluster.urls())))).await;
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, errors) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut workers = Vec::new();
    for w in 0..4 {
        let (n, http, stop) = (nodes[w % 2].clone(), http.clone(), stop.clone());
        let (ok, errors) = (ok.clone(), errors.clone());
        workers.push(tokio::spawn(async move {
            let mut i = 0usize;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let key = format!("/f/{}", i % 40);
                match tokio::time::timeout(Duration::from_secs(2), n.get(&key, &ttls, &*http)).await
                {
                    Ok(Ok(r)) if r.value.is_some() => ok.fetch_add(1, Ordering::SeqCst),
                    Ok(r) => panic!("lookup failed during failover: {r:?}"),
                    Err(_) => errors.fetch_add(1, Ordering::SeqCst),
                };
                // Pacing the load, not synchronisation.
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }));
    }
    eventually("load running", Duration::from_secs(5), || async {
        ok.load(Ordering::SeqCst) > 100
    })
    .await
    .unwrap();
    let victim = cluster.masters()[0];
    let before = ok.load(Ordering::SeqCst);
    let started = Instant::now();
    tokio::task::block_in_place(|| cluster.fail_over_master(victim));
    let failover = started.elapsed();
    eventually("load after failover", Duration::from_secs(10), || async {
        ok.load(Ordering::SeqCst) > before + 100
    })
    .await
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        w.await.unwrap();
    }
    assert_eq!(
        errors.load(Ordering::SeqCst),
        0,
        "lookups hung during failover"
    );
    eprintln!(
        "failover took {failover:?}; {} lookups, origin hits {}",
        ok.load(Ordering::SeqCst),
        origin.hits()
    );

    // The healed cluster serves L2 again.
    let fresh = node_with(cluster_spec(cluster.urls())).await;
    eventually("L2 to serve again", Duration::from_secs(10), || async {
        nodes[0].get("/healed", &TTLS, &*http).await.unwrap();
        if fresh.get("/healed", &TTLS, &*http).await.unwrap().level == CacheLevel::L2 {
            return true;
        }
        fresh.purge("/healed").await;
        nodes[0].purge("/healed").await;
        false
    })
    .await
    .unwrap();
}
