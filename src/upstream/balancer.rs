//! Precomputed selection state for one member set: a smooth weighted round-robin sequence
//! and a ketama ring per tier (primary, backup). Rebuilt only when membership changes.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use pingora_ketama::{Bucket, Continuum, DEFAULT_POINT_MULTIPLE};

use super::health::PeerHealth;
use super::spec::ServerSpec;

/// Longest round-robin sequence kept; larger weight sums are scaled down.
const MAX_SEQUENCE: u64 = 1 << 16;

/// Selection state for one member set.
pub(crate) struct Balancer {
    pub(crate) members: Arc<Vec<ServerSpec>>,
    index: HashMap<SocketAddr, usize>,
    pub(crate) health: Vec<Arc<PeerHealth>>,
    primary: Tier,
    backup: Tier,
}

/// The servers of one tier (primary or backup).
struct Tier {
    /// Member indices of the tier's selectable servers (not down, weight > 0).
    peers: Box<[u32]>,
    /// Member indices in smooth weighted round-robin order (nginx's algorithm).
    sequence: Box<[u32]>,
    /// Ketama ring over the tier's servers with weight > 0 (down ones included, like nginx).
    ring: Option<Continuum>,
    ring_points: usize,
}

impl Balancer {
    /// Builds the state for `members`, keeping health counters from `previous` by address.
    pub(crate) fn new(members: Vec<ServerSpec>, previous: Option<&Balancer>, hash: bool) -> Self {
        let mut index = HashMap::with_capacity(members.len());
        let mut health = Vec::with_capacity(members.len());
        for (i, m) in members.iter().enumerate() {
            index.entry(m.addr).or_insert(i);
            let h = previous
                .and_then(|p| p.index.get(&m.addr).map(|&j| p.health[j].clone()))
                .unwrap_or_default();
            health.push(h);
        }
        let primary = Tier::new(&members, false, hash);
        let backup = Tier::new(&members, true, hash);
        Balancer {
            members: Arc::new(members),
            index,
            health,
            primary,
            backup,
        }
    }

    /// The member index of `addr`.
    pub(crate) fn position(&self, addr: SocketAddr) -> Option<usize> {
        self.index.get(&addr).copied()
    }

    fn usable(&self, i: usize, tried: &[SocketAddr], now: u64) -> bool {
        let m = &self.members[i];
        !m.down && m.weight > 0 && !tried.contains(&m.addr) && self.health[i].available(now)
    }

    /// Consistent-hash pick: the first usable node walking the ring from the key's point.
    pub(crate) fn select_hash(&self, key: &[u8], tried: &[SocketAddr], now: u64) -> Option<usize> {
        self.primary
            .walk(self, key, tried, now)
            .or_else(|| self.backup.walk(self, key, tried, now))
    }

    /// Weighted round-robin pick; `n` is a per-group counter.
    pub(crate) fn select_rr(&self, n: usize, tried: &[SocketAddr], now: u64) -> Option<usize> {
        self.primary
            .next_rr(self, n, tried, now)
            .or_else(|| self.backup.next_rr(self, n, tried, now))
    }
}

impl Tier {
    fn new(members: &[ServerSpec], backup: bool, hash: bool) -> Self {
        let chosen: Vec<(usize, &ServerSpec)> = members
            .iter()
            .enumerate()
            .filter(|(_, m)| m.backup == backup && m.weight > 0)
            .collect();
        let (ring, ring_points) = if hash && !chosen.is_empty() {
            let mut seen = std::collections::HashSet::new();
            let mut points = 0usize;
            let buckets: Vec<Bucket> = chosen
                .iter()
                .filter(|(_, m)| seen.insert(m.addr))
                .map(|(_, m)| {
                    points += m.weight as usize * DEFAULT_POINT_MULTIPLE as usize;
                    Bucket::new(m.addr, m.weight)
                })
                .collect();
            (Some(Continuum::new(&buckets)), points)
        } else {
            (None, 0)
        };
        let active: Vec<(usize, u64)> = chosen
            .iter()
            .filter(|(_, m)| !m.down)
            .map(|(i, m)| (*i, u64::from(m.weight)))
            .collect();
        Tier {
            peers: active.iter().map(|p| p.0 as u32).collect(),
            sequence: smooth_wrr(&active),
            ring,
            ring_points,
        }
    }

    fn walk(&self, b: &Balancer, key: &[u8], tried: &[SocketAddr], now: u64) -> Option<usize> {
        let ring = self.ring.as_ref()?;
        if !self.peers.iter().any(|&i| b.usable(i as usize, tried, now)) {
            return None;
        }
        let mut idx = ring.node_idx(key);
        for _ in 0..self.ring_points {
            let addr = ring.get_addr(&mut idx)?;
            if let Some(i) = b.position(*addr) {
                if b.usable(i, tried, now) {
                    return Some(i);
                }
            }
        }
        None
    }

    fn next_rr(&self, b: &Balancer, n: usize, tried: &[SocketAddr], now: u64) -> Option<usize> {
        let len = self.sequence.len();
        (0..len)
            .map(|k| self.sequence[(n + k) % len] as usize)
            .find(|&i| b.usable(i, tried, now))
    }
}

/// nginx's smooth weighted round robin, unrolled into one period of member indices.
fn smooth_wrr(peers: &[(usize, u64)]) -> Box<[u32]> {
    let total: u64 = peers.iter().map(|p| p.1).sum();
    let scale = total.div_ceil(MAX_SEQUENCE).max(1);
    let weights: Vec<i64> = peers.iter().map(|p| (p.1 / scale).max(1) as i64).collect();
    let total: i64 = weights.iter().sum();
    let mut current = vec![0i64; peers.len()];
    let mut out = Vec::with_capacity(total as usize);
    for _ in 0..total {
        let mut best = 0;
        for (j, w) in weights.iter().enumerate() {
            current[j] += w;
            if current[j] > current[best] {
                best = j;
            }
        }
        current[best] -= total;
        out.push(peers[best].0 as u32);
    }
    out.into_boxed_slice()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smooth_wrr_interleaves_like_nginx() {
        // nginx: weights a=5, b=1, c=1 give a a b a c a a
        let seq = smooth_wrr(&[(0, 5), (1, 1), (2, 1)]);
        assert_eq!(&*seq, &[0, 0, 1, 0, 2, 0, 0]);
        assert!(smooth_wrr(&[]).is_empty());
        let big = smooth_wrr(&[(0, 1 << 20), (1, 1 << 19)]);
        assert!(big.len() as u64 <= MAX_SEQUENCE + 2);
    }
}
