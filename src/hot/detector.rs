//! Per-request counting of hash keys: a HeavyKeeper top-k sketch (the `heavykeeper`
//! crate) per stripe, replaced by a fresh one every tick.
//!
//! The request path takes the stripe of its thread (a thread-local index, so threads do
//! not contend), counts the key in that stripe's sketch and the stripe's total, and
//! returns. Every tick the background task swaps each stripe's sketch for an empty one and
//! merges what they counted into one [`Tick`]: the top keys with their counts. Memory is
//! bounded by stripes × sketch size, whatever the number of distinct keys.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use heavykeeper::TopK;

/// Sketch rows (hash functions).
const DEPTH: usize = 2;
/// HeavyKeeper's decay base: a colliding count is decremented with probability DECAY^count.
const DECAY: f64 = 0.9;

/// What one tick counted.
#[derive(Debug, Default, Clone)]
pub struct Tick {
    /// Requests counted (all keys).
    pub total: u64,
    /// The heaviest keys with their (estimated) counts, heaviest first.
    pub counts: Vec<(String, u64)>,
}

struct Stripe {
    sketch: TopK<String>,
    total: u64,
}

/// Striped top-k counters for one upstream group.
pub struct Detector {
    stripes: Box<[Mutex<Stripe>]>,
    k: usize,
    /// An empty sketch, cloned for every fresh stripe: building one computes the crate's
    /// 1,024-entry decay table (`powf` each), cloning copies it.
    empty: TopK<String>,
}

static NEXT_THREAD: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static THREAD_INDEX: usize = NEXT_THREAD.fetch_add(1, Ordering::Relaxed);
}

impl Detector {
    /// Counters keeping the top `k` keys per tick, striped for the machine's parallelism.
    pub fn new(k: usize) -> Self {
        let n = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4)
            .clamp(1, 64)
            * 2;
        Self::with_stripes(k, n)
    }

    /// Counters with `stripes` stripes.
    pub fn with_stripes(k: usize, stripes: usize) -> Self {
        let k = k.max(1);
        let width = (k * 8).max(256).next_power_of_two();
        let empty = TopK::new(k, width, DEPTH, DECAY);
        let stripes = (0..stripes.max(1))
            .map(|_| {
                Mutex::new(Stripe {
                    sketch: empty.clone(),
                    total: 0,
                })
            })
            .collect();
        Detector { stripes, k, empty }
    }

    /// Counts one request for `key` (the request path: one uncontended lock, one sketch
    /// update).
    pub fn observe(&self, key: &str) {
        let i = THREAD_INDEX.with(|i| *i) % self.stripes.len();
        let mut s = self.stripes[i].lock().unwrap_or_else(|p| p.into_inner());
        s.sketch.add(key, 1);
        s.total += 1;
    }

    /// Everything counted since the last drain; the stripes start over.
    pub fn drain(&self) -> Tick {
        let mut merged: HashMap<String, u64> = HashMap::new();
        let mut total = 0;
        for stripe in self.stripes.iter() {
            let fresh = self.empty.clone();
            let (sketch, n) = {
                let mut s = stripe.lock().unwrap_or_else(|p| p.into_inner());
                let n = std::mem::take(&mut s.total);
                (std::mem::replace(&mut s.sketch, fresh), n)
            };
            total += n;
            for node in sketch.list() {
                *merged.entry(node.item).or_default() += node.count;
            }
        }
        let mut counts: Vec<(String, u64)> = merged.into_iter().collect();
        counts.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        counts.truncate(self.k);
        Tick { total, counts }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heavy_keys_come_out_on_top_with_their_counts() {
        let d = Detector::with_stripes(8, 3);
        for i in 0..10_000u32 {
            d.observe(&format!("tail-{i}"));
            if i % 2 == 0 {
                d.observe("hot");
            }
            if i % 10 == 0 {
                d.observe("warm");
            }
        }
        let t = d.drain();
        assert_eq!(t.total, 10_000 + 5_000 + 1_000);
        assert_eq!(t.counts[0].0, "hot");
        assert!(
            (4_500..=5_000).contains(&t.counts[0].1),
            "{:?}",
            t.counts[0]
        );
        assert_eq!(t.counts[1].0, "warm");
        assert!(t.counts.len() <= 8);
        let again = d.drain();
        assert_eq!(
            (again.total, again.counts.len()),
            (0, 0),
            "a drain starts over"
        );
    }

    #[test]
    fn threads_count_into_their_own_stripes_and_nothing_is_lost() {
        let d = std::sync::Arc::new(Detector::with_stripes(4, 4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let d = d.clone();
                std::thread::spawn(move || (0..1000).for_each(|_| d.observe("k")))
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let t = d.drain();
        assert_eq!(t.total, 4000);
        assert_eq!(t.counts, vec![("k".to_string(), 4000)]);
    }
}
