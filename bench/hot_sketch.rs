//! Micro benchmark of hot-key detection's per-request cost (issue 9): what
//! `HotGroup::observe` does for every request of a group with a `hot` table —
//! `Detector::observe` (striped HeavyKeeper sketch) + `HotSet::lookup` — over Zipf(1) keys
//! from 100,000 products, with a tick (drain) every 10,000 requests.
//!
//!   cargo build --release --example hot_sketch
//!   hot_sketch [REQUESTS] [THREADS]          # default 2000000 1; prints ns per request
//!
//! Under CPU contention, count instructions instead (the figures in BENCHMARKS.md):
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null hot_sketch 200000 1
//!   valgrind --tool=callgrind --callgrind-out-file=/dev/null hot_sketch 0 1
//! and divide the difference of the two totals by 200000.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use edgeproxy::hot::{Detector, HotSet};

const PRODUCTS: usize = 100_000;
const TICK_EVERY: usize = 10_000;
/// Keys drawn up front (the same whatever the request count, so a run of 0 requests
/// measures the set-up alone).
const POOL: usize = 1 << 18;

/// `n` Zipf(1) keys, drawn with a small xorshift so the run is the same every time.
fn keys(n: usize) -> Vec<String> {
    let mut cdf = Vec::with_capacity(PRODUCTS);
    let mut acc = 0.0;
    for k in 1..=PRODUCTS {
        acc += 1.0 / k as f64;
        cdf.push(acc);
    }
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = (x >> 11) as f64 / (1u64 << 53) as f64 * acc;
            (cdf.partition_point(|c| *c < u) + 1).to_string()
        })
        .collect()
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let threads: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1).max(1);
    let keys = Arc::new(keys(POOL));
    let detector = Arc::new(Detector::new(64));
    // A hot set holding a few keys, as during a flash sale.
    let hot: Vec<(String, bool)> = ["1", "2", "5000"]
        .iter()
        .map(|k| (k.to_string(), true))
        .collect();
    let set = Arc::new(HotSet::new(hot.into_iter(), &HotSet::default(), false));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (keys, detector, set) = (keys.clone(), detector.clone(), set.clone());
            std::thread::spawn(move || {
                let mut hits = 0u64;
                for (i, k) in keys.iter().cycle().take(n).enumerate() {
                    detector.observe(k);
                    hits += u64::from(set.lookup(k).is_some());
                    if t == 0 && i % TICK_EVERY == TICK_EVERY - 1 {
                        black_box(detector.drain());
                    }
                }
                hits
            })
        })
        .collect();
    let hits: u64 = workers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
    let took = start.elapsed();
    let total = (n * threads).max(1);
    println!(
        "hot_sketch: {total} requests on {threads} thread(s) in {took:?}: {:.1} ns/request \
         (per thread), {hits} hot hits",
        took.as_nanos() as f64 * threads as f64 / total as f64
    );
}
