//! Hot keys through the real binary, two tiers (tests/common/tiers.rs): a flash crowd on
//! one cold product is found cluster-wide, spread over every application node and
//! prewarmed with one origin fetch; hot pages are answered at the first hop and a purge
//! reaches the edge copies before it returns; bad `hot` tables are refused with their
//! position. Timings are printed, never asserted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common::edge::{check_text, Edge, ANY_PORT};
use crate::common::scrape::{json, metric};
use crate::common::tiers::{imbalance, product, Answer, Running, Tiers, Zipf, PATIENCE, TOKEN};
use crate::common::{client, wait_until};

/// The cold product the crowd switches to (outside the Zipf range).
const FLASH: u64 = 5000;

/// Whether `key` is in the hot set shown at `admin`; the key's entry.
fn hot_entry(admin: SocketAddr, key: &str) -> Option<serde_json::Value> {
    let doc = json(admin, "/status/hot");
    doc["groups"]["app"]["hot"]
        .as_array()?
        .iter()
        .find(|k| k["key"] == key)
        .cloned()
}

/// One request of the load: when (since the start), which product, the answer.
type Seen = (Duration, u64, Answer);

/// Runs `threads` clients against every distribution node in turn until `stop`; the
/// share of requests for [`FLASH`] is `flash` (per mille), the rest Zipf over 1..=1000.
fn load(
    t: &Running,
    threads: usize,
    flash: Arc<std::sync::atomic::AtomicU64>,
    stop: Arc<AtomicBool>,
    start: Instant,
) -> Vec<std::thread::JoinHandle<Vec<Seen>>> {
    (0..threads)
        .map(|n| {
            let (dists, flash, stop) = (t.dists.clone(), flash.clone(), stop.clone());
            std::thread::spawn(move || {
                let http = client();
                let zipf = Zipf::new(1000);
                let mut seen = Vec::new();
                let mut i = n;
                while !stop.load(Ordering::Relaxed) && seen.len() < 50_000 {
                    let u: f64 = rand::random();
                    let id = match rand::random::<u64>() % 1000 < flash.load(Ordering::Relaxed) {
                        true => FLASH,
                        false => zipf.sample(u),
                    };
                    let a = product(&http, dists[i % dists.len()], id);
                    i += 1;
                    seen.push((start.elapsed(), id, a));
                }
                seen
            })
        })
        .collect()
}

fn per_node(seen: &[Seen], from: Duration, to: Duration) -> Vec<u64> {
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    for (_, _, a) in seen
        .iter()
        .filter(|(t, _, a)| *t >= from && *t < to && a.cache.as_deref() != Some("EDGE"))
    {
        if let Some(n) = &a.node {
            *by.entry(n.clone()).or_default() += 1;
        }
    }
    by.into_values().collect()
}

#[test]
fn a_flash_crowd_turns_hot_cluster_wide_is_spread_and_prewarmed_with_one_origin_fetch() {
    let t = Tiers::new(
        2,
        3,
        &[
            "window = \"1s\"",
            "min_rate = 20",
            "min_share = 0.2",
            "hold = \"2s\"",
        ],
    )
    .start();
    let flash = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let threads = load(&t, 4, flash.clone(), stop.clone(), start);

    // Zipf traffic only, then 30% of all requests switch to the cold product.
    std::thread::sleep(Duration::from_secs(3));
    let switch = start.elapsed();
    flash.store(300, Ordering::Relaxed);
    let key = FLASH.to_string();
    wait_until("the flash product in the hot set", PATIENCE, || {
        hot_entry(t.dist_admins[0], &key).is_some()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", t.edges[1].stderr()));
    let hot_at = start.elapsed();
    std::thread::sleep(Duration::from_secs(4));
    let entry = hot_entry(t.dist_admins[0], &key).expect("still hot");
    stop.store(true, Ordering::Relaxed);
    let seen: Vec<Seen> = threads
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert!(
        seen.iter().all(|(_, _, a)| a.status == 200),
        "every request answered"
    );

    // Both distribution nodes saw it; the merged view says so.
    let nodes: Vec<&str> = entry["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|n| n[0].as_str())
        .collect();
    assert_eq!(nodes.len(), 2, "{entry}");
    assert!(
        hot_entry(t.dist_admins[1], &key).is_some(),
        "dist-1 merged the same hot set"
    );

    // Spread: after turning hot, the product is answered by every application node.
    let mut flash_seen: Vec<&Seen> = seen
        .iter()
        .filter(|(at, id, _)| *id == FLASH && *at >= switch)
        .collect();
    flash_seen.sort_by_key(|s| s.0);
    let first = flash_seen
        .first()
        .and_then(|s| s.2.node.clone())
        .expect("flash requests");
    let spread_at = flash_seen
        .iter()
        .find(|s| s.2.node.as_deref() != Some(first.as_str()))
        .map(|s| s.0)
        .expect("spread");
    let late: std::collections::BTreeSet<_> = flash_seen
        .iter()
        .filter(|s| s.0 > spread_at + Duration::from_secs(1))
        .filter_map(|s| s.2.node.clone())
        .collect();
    assert_eq!(late.len(), 3, "hot product answered by {late:?}");

    // One origin fetch for the product across the cluster (prewarm and spread read Redis).
    assert_eq!(t.origin.hits_for(&format!("/p/{FLASH}")), 1);
    let prewarms: f64 = t
        .dist_admins
        .iter()
        .map(|a| {
            metric(
                *a,
                "edgeproxy_hot_prewarm_total{group=\"app\",result=\"ok\"}",
            )
            .unwrap_or(0.0)
        })
        .sum();
    assert!(
        prewarms >= 3.0,
        "every application node prewarmed: {prewarms}"
    );
    assert!(
        t.edges[1].stderr().contains("hot: key entered the hot set"),
        "{}",
        t.edges[1].stderr()
    );

    let baseline = per_node(&seen, Duration::from_secs(1), switch);
    let before = per_node(
        &seen,
        switch,
        spread_at.max(switch + Duration::from_millis(1)),
    );
    let after = per_node(&seen, spread_at + Duration::from_secs(1), Duration::MAX);
    let rps = seen.len() as f64 / start.elapsed().as_secs_f64();
    println!(
        "flash crowd ({rps:.0} req/s, 2 dist + 3 app nodes): time to hot {:?}, time to spread {:?}; \
         per-node load max/mean: Zipf only {:.2} {baseline:?}, after the switch before spreading {:.2} {before:?}, \
         spread {:.2} {after:?}; origin fetches for the product: 1",
        hot_at - switch,
        spread_at.saturating_sub(switch),
        imbalance(&baseline),
        imbalance(&before),
        imbalance(&after),
    );

    // The crowd is gone: the key leaves after `hold`.
    wait_until("the key to leave", PATIENCE, || {
        hot_entry(t.dist_admins[0], &key).is_none()
    })
    .unwrap();
    wait_until("the leave logged", PATIENCE, || {
        t.edges[1].stderr().contains("hot: key left the hot set")
    })
    .unwrap();
}

fn purge(admin: SocketAddr, key: &str) -> (u16, String, Duration) {
    let start = Instant::now();
    let r = client()
        .post(format!("http://{admin}/purge?cache=app0&key={key}"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .send()
        .unwrap();
    let took = start.elapsed();
    (r.status().as_u16(), r.text().unwrap_or_default(), took)
}

#[test]
fn hot_pages_are_served_at_the_first_hop_and_a_purge_drops_them_before_it_returns() {
    let t = Tiers::new(
        1,
        2,
        &[
            "window = \"1s\"",
            "min_rate = 5",
            "min_share = 0.3",
            "hold = \"60s\"",
        ],
    )
    .edge(&["max_keys = 2", "ttl = \"60s\""])
    .start();
    let (dist, admin) = (t.dists[0], t.dist_admins[0]);
    let http = client();
    wait_until("product 7 hot", PATIENCE, || {
        (0..20).for_each(|_| drop(product(&http, dist, 7)));
        hot_entry(admin, "7").is_some_and(|e| e["edge"] == true)
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", t.edges[1].stderr()));
    wait_until("an answer from the first hop", PATIENCE, || {
        product(&http, dist, 7).cache.as_deref() == Some("EDGE")
    })
    .unwrap();
    let a = product(&http, dist, 7);
    assert_eq!(
        (a.status, a.cache.as_deref(), a.body.as_str()),
        (200, Some("EDGE"), "/p/7 v0")
    );
    assert!(!a.tagged, "Surrogate-Key stays between the tiers");
    let cold = product(&http, dist, 8);
    assert!(
        cold.cache.as_deref() != Some("EDGE") && !cold.tagged,
        "{cold:?}"
    );
    assert_eq!(t.origin.hits_for("/p/7"), 1);
    let status = json(admin, "/status/hot");
    assert_eq!(status["groups"]["app"]["edge"]["serving"], true, "{status}");
    assert!(
        status["groups"]["app"]["edge"]["entries"].as_u64() >= Some(1),
        "{status}"
    );

    // New data at the origin, then a purge through one application node: once the purge
    // returns, no copy of the old page is served, from the edge store or any L1.
    let mut purge_times = Vec::new();
    for version in 1..=3u64 {
        t.origin.set_version(version);
        let (status, body, took) = purge(t.app_admin, "product_info_7");
        assert_eq!(status, 200, "{body}");
        purge_times.push(took);
        for _ in 0..30 {
            let a = product(&http, dist, 7);
            assert_eq!(
                a.body,
                format!("/p/7 v{version}"),
                "stale copy after the purge: {a:?}"
            );
        }
        wait_until("the edge copy back", PATIENCE, || {
            product(&http, dist, 7).cache.as_deref() == Some("EDGE")
        })
        .unwrap();
    }
    let edge_hits = metric(
        admin,
        "edgeproxy_hot_requests_total{group=\"app\",handling=\"edge\"}",
    )
    .unwrap_or(0.0);
    println!("purge (delete + broadcast + confirmations) took {purge_times:?}; {edge_hits} answers from the first hop");
}

#[test]
fn bad_hot_tables_are_refused_at_their_position() {
    let c = check_text(
        "[caches.c]\nl1_capacity = \"1MiB\"\n\n\
         [upstreams.rr]\nservers = [{ addr = \"127.0.0.1:1\" }]\n[upstreams.rr.hot]\nmin_rate = 5\n\n\
         [upstreams.h]\nservers = [{ addr = \"127.0.0.1:1\" }]\nbalance = \"hash\"\nhash_key = \"$arg_id\"\n\
         [upstreams.h.hot]\nmin_share = 1.5\ncache = \"nope\"\nwindow = \"1ms\"\nspred = true\n\
         [upstreams.h.hot.edge]\nttl = \"1s\"\n\n\
         [[servers]]\nlisten = [\"127.0.0.1:1\"]\n[[servers.routes]]\npath = \"/\"\nupstream = \"h\"\n",
    );
    assert_eq!(c.code, Some(1), "{}", c.stderr);
    let path = c.path.display().to_string();
    for want in [
        format!("{path}:6:1: error: upstream `rr` hot: hot keys are hash keys"),
        format!("{path}:14:13: error: `min_share` = 1.5 is out of range"),
        format!("{path}:15:9: error: upstream `h` hot: undefined cache `nope`"),
        "`window` must be between".to_string(),
        "unknown key `spred`".to_string(),
        "did you mean `spread`?".to_string(),
        "edge serving needs `cache`".to_string(),
    ] {
        assert!(
            c.stderr.contains(&want),
            "missing {want:?} in:\n{}",
            c.stderr
        );
    }
}

/// A hot table without Redis still works on its own node's view.
#[test]
fn without_a_cache_each_node_decides_from_its_own_traffic() {
    let (a, b) = (
        crate::common::origin::Origin::start(),
        crate::common::origin::Origin::start(),
    );
    let (listen, admin) = (ANY_PORT, ANY_PORT);
    let cfg = format!(
        "[server]\nthreads = 2\n[upstreams.app]\nservers = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\nbalance = \"hash\"\nhash_key = \"$arg_productId\"\n\
         [upstreams.app.hot]\nmin_rate = 5\nmin_share = 0.5\nhold = \"1s\"\n\
         [[servers]]\nlisten = [\"{listen}\"]\n[[servers.routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n\
         [[servers]]\nlisten = [\"{admin}\"]\n[[servers.routes]]\npath = \"/status/hot\"\nplugins = [{{ name = \"hot-status\" }}]\n",
        a.addr, b.addr,
    );
    let edge = Edge::start(&cfg);
    let [listen, admin] = edge.listening();
    let c = crate::common::dist::Client::new(listen);
    wait_until("key 3 hot", PATIENCE, || {
        (0..10).for_each(|_| {
            let _ = c.get("/p?productId=3");
        });
        hot_entry(admin, "3").is_some()
    })
    .unwrap();
    let doc = json(admin, "/status/hot");
    assert_eq!(doc["groups"]["app"]["nodes_reporting"], 1, "{doc}");
}
