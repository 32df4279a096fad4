//! The lookup structure of one list: per address family, the networks as sorted, merged,
//! disjoint `[first, last]` integer ranges, searched by bisection.
//!
//! A lookup is O(log n): 10 000 networks are at most 10 000 ranges, so 14 comparisons of
//! integers, no allocation, no hashing; building sorts once (O(n log n)). A trie would do
//! no better for a membership test, and overlapping or nested rules (a /8 and a /24 inside
//! it) simply merge. `ten_thousand_networks` checks this against a linear scan.

use super::{client_key, v4_range, v6_range, Cidr, ClientKey, ALL_V4, ALL_V6};
use std::net::IpAddr;

/// The networks of one list, ready for lookups.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Table {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

impl Table {
    /// A table of `rules` (any order, overlaps allowed).
    pub fn new<'a>(rules: impl IntoIterator<Item = &'a Cidr>) -> Table {
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        for rule in rules {
            match *rule {
                Cidr::V4(n) => v4.push(v4_range(n)),
                Cidr::V6(n) => v6.push(v6_range(n)),
                Cidr::All => {
                    v4.push(ALL_V4);
                    v6.push(ALL_V6);
                }
            }
        }
        Table {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    /// Whether `ip` is in one of the networks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match client_key(ip) {
            ClientKey::V4(k) => find(&self.v4, k),
            ClientKey::V6(k) => find(&self.v6, k),
        }
    }

    /// Whether the table holds no network at all.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }

    /// Number of disjoint ranges (after merging), for tests and logs.
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

/// Sorts ranges and merges overlapping or adjacent ones.
fn merge<T: Ord + Copy + Adjacent>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (first, last) in ranges {
        match out.last_mut() {
            Some(prev) if first <= prev.1 || prev.1.next() == Some(first) => {
                prev.1 = prev.1.max(last);
            }
            _ => out.push((first, last)),
        }
    }
    out.shrink_to_fit();
    out
}

/// Whether `k` lies in one of the sorted, disjoint `ranges`.
fn find<T: Ord + Copy>(ranges: &[(T, T)], k: T) -> bool {
    let i = ranges.partition_point(|r| r.0 <= k);
    i > 0 && ranges[i - 1].1 >= k
}

/// The next integer, if any (to merge adjacent ranges).
trait Adjacent: Sized {
    fn next(self) -> Option<Self>;
}

impl Adjacent for u32 {
    fn next(self) -> Option<u32> {
        self.checked_add(1)
    }
}

impl Adjacent for u128 {
    fn next(self) -> Option<u128> {
        self.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(rules: &[&str]) -> Table {
        let rules: Vec<Cidr> = rules.iter().map(|r| r.parse().unwrap()).collect();
        Table::new(&rules)
    }

    fn has(t: &Table, ip: &str) -> bool {
        t.contains(ip.parse().unwrap())
    }

    #[test]
    fn matches_inside_and_not_outside() {
        let t = table(&["10.0.0.0/8", "192.0.2.7", "2001:db8::/32"]);
        for ip in [
            "10.0.0.0",
            "10.255.255.255",
            "192.0.2.7",
            "2001:db8::1",
            "::ffff:10.9.9.9",
        ] {
            assert!(has(&t, ip), "{ip}");
        }
        for ip in [
            "9.255.255.255",
            "11.0.0.0",
            "192.0.2.6",
            "192.0.2.8",
            "2001:db9::",
            "::1",
        ] {
            assert!(!has(&t, ip), "{ip}");
        }
    }

    #[test]
    fn nested_overlapping_and_adjacent_rules_merge() {
        let t = table(&[
            "10.0.0.0/24",
            "10.0.0.0/8",
            "10.0.1.0/24",
            "11.0.0.0/8",
            "12.0.0.1",
        ]);
        assert_eq!(t.ranges(), 2, "{t:?}");
        assert!(has(&t, "11.255.255.255") && has(&t, "12.0.0.1") && !has(&t, "12.0.0.0"));
    }

    #[test]
    fn all_covers_both_families_and_v6_zero_only_v6() {
        let t = table(&["all"]);
        assert!(
            has(&t, "0.0.0.0") && has(&t, "255.255.255.255") && has(&t, "::") && has(&t, "ffff::")
        );
        let t = table(&["::/0"]);
        assert!(has(&t, "::1") && !has(&t, "127.0.0.1") && !has(&t, "::ffff:127.0.0.1"));
        assert!(table(&[]).is_empty() && !table(&["::1"]).is_empty());
    }

    #[test]
    fn ten_thousand_networks() {
        // Deterministic pseudo-random networks and addresses (xorshift), checked against a
        // linear scan; also shows a lookup stays cheap at that size.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let nets: Vec<ipnet::Ipv4Net> = (0..10_000)
            .map(|_| {
                let len = 16 + (rnd() % 17) as u8;
                ipnet::Ipv4Net::new((rnd() as u32).into(), len)
                    .unwrap()
                    .trunc()
            })
            .collect();
        let rules: Vec<Cidr> = nets.iter().map(|n| Cidr::V4(*n)).collect();
        let t = Table::new(&rules);
        let probes: Vec<std::net::Ipv4Addr> = (0..20_000)
            .map(|i| {
                if i % 2 == 0 {
                    nets[i / 2 % nets.len()].network()
                } else {
                    (rnd() as u32).into()
                }
            })
            .collect();
        for ip in &probes {
            let linear = nets.iter().any(|n| n.contains(ip));
            assert_eq!(t.contains((*ip).into()), linear, "{ip}");
        }
        let started = std::time::Instant::now();
        let hits = probes.iter().filter(|ip| t.contains((**ip).into())).count();
        let per = started.elapsed() / probes.len() as u32;
        assert!(hits >= probes.len() / 2);
        eprintln!("10k networks: {} ranges, {per:?} per lookup", t.ranges());
    }
}
