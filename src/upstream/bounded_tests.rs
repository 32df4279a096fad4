//! Bounded-load hashing (`hash_balance_factor`) on a group: the in-flight bound holds at
//! every pick, spilled keys go to the next member on the ring, and a Zipf workload that
//! plain ketama runs unevenly is balanced within the factor.

use std::collections::VecDeque;

use super::tests::server;
use super::*;

fn bounded(factor: Option<f64>) -> UpstreamGroup {
    let mut spec = GroupSpec::new("g", vec![server(1, 1), server(2, 1), server(3, 1)])
        .hashed("$arg_id", None)
        .unwrap();
    if let BalanceSpec::Hash(h) = &mut spec.balance {
        h.balance_factor = factor;
    }
    UpstreamGroup::new(spec)
}

#[test]
fn a_full_member_spills_to_the_next_on_the_ring_and_takes_keys_back_when_free() {
    let g = bounded(Some(1.25));
    let home = g.select(Some(b"k"), &[]).unwrap();
    let next = g.select(Some(b"k"), &[home]).unwrap();
    let (first, t1) = g.pick(Some(b"k"), &[]).unwrap();
    assert_eq!(first, home);
    // One in flight of three members: capacity ceil(1.25 * 2 / 3) = 1, so the home member
    // is full and the key goes where a retry would go.
    let (second, t2) = g.pick(Some(b"k"), &[]).unwrap();
    assert_eq!(second, next);
    drop((t1, t2));
    assert_eq!(g.pick(Some(b"k"), &[]).unwrap().0, home);
    // Without a factor there is no ticket and no spill.
    let plain = bounded(None);
    let (a, ticket) = plain.pick(Some(b"k"), &[]).unwrap();
    assert!(ticket.is_none());
    assert_eq!(plain.pick(Some(b"k"), &[]).unwrap().0, a);
}

/// A tiny deterministic generator (xorshift64*), so the workload is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(1) over `keys` keys, `inflight` requests at a time finishing in order: returns
/// (requests per member, requests not on their key's home member).
fn run(g: &UpstreamGroup, keys: usize, inflight: usize, requests: usize) -> ([usize; 3], usize) {
    let home = bounded(None);
    let weights: Vec<f64> = (1..=keys).map(|k| 1.0 / k as f64).collect();
    let sum: f64 = weights.iter().sum();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut queue = VecDeque::new();
    let (mut per, mut moved) = ([0usize; 3], 0);
    for _ in 0..requests {
        let mut x = rng.next() * sum;
        let k = weights.iter().position(|w| {
            x -= w;
            x <= 0.0
        });
        let key = format!("p{}", k.unwrap_or(keys - 1));
        let (addr, ticket) = g.pick(Some(key.as_bytes()), &[]).unwrap();
        per[usize::from(addr.port()) - 1] += 1;
        moved += usize::from(home.select(Some(key.as_bytes()), &[]) != Some(addr));
        queue.push_back(ticket);
        if queue.len() >= inflight {
            queue.pop_front();
        }
    }
    (per, moved)
}

fn max_over_mean(per: &[usize; 3]) -> f64 {
    let mean = per.iter().sum::<usize>() as f64 / 3.0;
    *per.iter().max().unwrap() as f64 / mean
}

#[test]
fn zipf_traffic_stays_within_the_factor() {
    let (plain, _) = run(&bounded(None), 1000, 60, 30_000);
    let (even, moved) = run(&bounded(Some(1.1)), 1000, 60, 30_000);
    let (p, e) = (max_over_mean(&plain), max_over_mean(&even));
    eprintln!(
        "plain {plain:?} max/mean {p:.3}; bounded 1.1 {even:?} max/mean {e:.3}, moved {moved}"
    );
    assert!(
        p > 1.15,
        "the workload must be uneven under plain ketama: {p:.3}"
    );
    assert!(
        e <= 1.12,
        "bounded loads keep members near the mean: {e:.3}"
    );
}
