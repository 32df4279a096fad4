//! Precomputed selection state for one member set: a smooth weighted round-robin sequence
//! and a ketama ring per tier (primary, backup). Rebuilt only when membership changes.
//!
//! Selection, in order (nginx semantics, plus a last resort):
//! 1. a primary peer that is up, then a backup peer that is up (down, weight-0 and already
//!    tried peers are never chosen); a group of one server (`single`, as nginx's
//!    `peers->single`) ignores passive health: one refused connect must not black it out;
//! 2. when every untried peer is out, passive health is not trusted blindly: the peer that
//!    is only passively out and whose `fail_timeout` ends first is tried (the least
//!    recently failed), so a recovered group answers at once instead of 502 for
//!    `fail_timeout`;
//! 3. only if all of them are out by active health checks, one of those is tried (walking
//!    the ring or the round-robin order as usual): a health check that fails everywhere
//!    (e.g. a wrong `path`) must not take the whole group down.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU32;
use std::sync::Arc;

use pingora_ketama::{Bucket, Continuum, DEFAULT_POINT_MULTIPLE};

use super::health::PeerHealth;
use super::load::{Bound, LoadTicket, PeerLoad};
use super::spec::ServerSpec;

/// Longest round-robin sequence kept; larger weight sums are scaled down.
const MAX_SEQUENCE: u64 = 1 << 16;

/// Selection state for one member set.
pub(crate) struct Balancer {
    pub(crate) members: Arc<Vec<ServerSpec>>,
    /// foldhash, not SipHash: looked up on every proxied response (passive health).
    index: HashMap<SocketAddr, usize, foldhash::fast::RandomState>,
    pub(crate) health: Vec<Arc<PeerHealth>>,
    /// Requests in flight per member (bounded-load hashing), carried like `health`.
    load: Vec<Arc<PeerLoad>>,
    /// The group's requests in flight, shared by every member's [`PeerLoad`].
    total: Arc<AtomicU32>,
    primary: Tier,
    backup: Tier,
    /// Exactly one selectable server (primary, no backup): never out by passive health.
    pub(crate) single: bool,
}

/// How much of the health state a selection pass respects.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    /// Passive and active health both respected (the normal case).
    Healthy,
    /// Health ignored: the last resort when every peer is out by active checks.
    AnyHealth,
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
        let mut index = HashMap::with_capacity_and_hasher(members.len(), Default::default());
        let mut health = Vec::with_capacity(members.len());
        let mut load = Vec::with_capacity(members.len());
        let total = previous.map_or_else(Default::default, |p| p.total.clone());
        for (i, m) in members.iter().enumerate() {
            index.entry(m.addr).or_insert(i);
            let before = previous.and_then(|p| p.index.get(&m.addr).map(|&j| (p, j)));
            health.push(before.map_or_else(Default::default, |(p, j)| p.health[j].clone()));
            load.push(before.map_or_else(
                || Arc::new(PeerLoad::new(total.clone())),
                |(p, j)| p.load[j].clone(),
            ));
        }
        let primary = Tier::new(&members, false, hash);
        let backup = Tier::new(&members, true, hash);
        let single = primary.peers.len() == 1 && backup.peers.is_empty();
        Balancer {
            members: Arc::new(members),
            index,
            health,
            load,
            total,
            primary,
            backup,
            single,
        }
    }

    /// The member index of `addr`.
    pub(crate) fn position(&self, addr: SocketAddr) -> Option<usize> {
        self.index.get(&addr).copied()
    }

    /// Whether member `i` may be chosen in `pass`: never when marked down, of weight 0 or
    /// already tried by this request.
    fn usable(&self, i: usize, tried: &[SocketAddr], now: u64, pass: Pass) -> bool {
        let m = &self.members[i];
        if m.down || m.weight == 0 || tried.contains(&m.addr) {
            return false;
        }
        let h = &self.health[i];
        match pass {
            Pass::Healthy => !h.actively_down() && (self.single || !h.passively_down(now)),
            Pass::AnyHealth => true,
        }
    }

    /// Consistent-hash pick: the first usable node walking the ring from the key's point
    /// (primary ring, then backup ring), else the last resorts (module docs). With a
    /// balance `factor`, the healthy walk first skips members at their load bound
    /// (super::load); when every usable member is at it, the plain walk decides.
    pub(crate) fn select_hash(
        &self,
        key: &[u8],
        tried: &[SocketAddr],
        now: u64,
        factor: Option<f64>,
    ) -> Option<usize> {
        let walk = |pass, bound| {
            self.primary
                .walk(self, key, tried, now, pass, bound)
                .or_else(|| self.backup.walk(self, key, tried, now, pass, bound))
        };
        let bound = factor.map(|factor| Bound {
            factor,
            total: self.total.load(std::sync::atomic::Ordering::Relaxed),
        });
        bound
            .and_then(|b| walk(Pass::Healthy, Some(b)))
            .or_else(|| walk(Pass::Healthy, None))
            .or_else(|| self.least_recently_failed(tried, now))
            .or_else(|| walk(Pass::AnyHealth, None))
    }

    /// Counts one request in flight to member `i` until the ticket drops.
    pub(crate) fn take_load(&self, i: usize) -> LoadTicket {
        self.load[i].take()
    }

    /// Requests in flight to member `i` now.
    pub(crate) fn inflight(&self, i: usize) -> u32 {
        self.load[i].inflight()
    }

    /// Weighted round-robin pick (`n` is a per-group counter), else the last resorts.
    pub(crate) fn select_rr(&self, n: usize, tried: &[SocketAddr], now: u64) -> Option<usize> {
        let next = |pass| {
            self.primary
                .next_rr(self, n, tried, now, pass)
                .or_else(|| self.backup.next_rr(self, n, tried, now, pass))
        };
        next(Pass::Healthy)
            .or_else(|| self.least_recently_failed(tried, now))
            .or_else(|| next(Pass::AnyHealth))
    }

    /// Of the peers out by passive health only (primary or backup), the one whose
    /// `fail_timeout` ends first.
    fn least_recently_failed(&self, tried: &[SocketAddr], now: u64) -> Option<usize> {
        self.primary
            .peers
            .iter()
            .chain(self.backup.peers.iter())
            .map(|&i| i as usize)
            .filter(|&i| {
                self.usable(i, tried, now, Pass::AnyHealth) && !self.health[i].actively_down()
            })
            .min_by_key(|&i| self.health[i].down_until())
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

    fn walk(
        &self,
        b: &Balancer,
        key: &[u8],
        tried: &[SocketAddr],
        now: u64,
        pass: Pass,
        bound: Option<Bound>,
    ) -> Option<usize> {
        let ring = self.ring.as_ref()?;
        let usable = self
            .peers
            .iter()
            .map(|&i| i as usize)
            .filter(|&i| b.usable(i, tried, now, pass));
        // The usable weight is only needed for a bound; a plain walk stops at the first
        // usable peer, as before bounded loads.
        let weights: u64 = match bound {
            Some(_) => usable.map(|i| u64::from(b.members[i].weight)).sum(),
            None => u64::from(usable.take(1).next().is_some()),
        };
        if weights == 0 {
            return None;
        }
        let fits = |i: usize| {
            bound.is_none_or(|bd| bd.admits(b.inflight(i), b.members[i].weight, weights))
        };
        let mut idx = ring.node_idx(key);
        for _ in 0..self.ring_points {
            let addr = ring.get_addr(&mut idx)?;
            if let Some(i) = b.position(*addr) {
                if b.usable(i, tried, now, pass) && fits(i) {
                    return Some(i);
                }
            }
        }
        None
    }

    fn next_rr(
        &self,
        b: &Balancer,
        n: usize,
        tried: &[SocketAddr],
        now: u64,
        pass: Pass,
    ) -> Option<usize> {
        let len = self.sequence.len();
        (0..len)
            .map(|k| self.sequence[(n + k) % len] as usize)
            .find(|&i| b.usable(i, tried, now, pass))
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
