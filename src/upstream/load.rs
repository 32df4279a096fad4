//! Consistent hashing with bounded loads (Mirrokni, Thorup, Zadimoghaddam 2018; HAProxy's
//! `hash-balance-factor`, Envoy's ring-hash `hash_balance_factor`).
//!
//! A load is the number of requests in flight to a member from this process: taken when the
//! member is chosen ([`LoadTicket`]) and given back when the request is done with it (the
//! ticket is dropped: the attempt failed and the next one chose again, or the request ended).
//! With a factor `c > 1`, a member of weight `w` takes a new request only while its load is
//! under `ceil(c × (total + 1) × w / W)` — `total` the group's requests in flight, `W` the
//! weight of the tier's usable members — so no member carries more than `c` times its share
//! while keys otherwise stay where the ring puts them: a key whose member is full goes to the
//! next member on the ring from the key's point (the same one each time, so its page is warm
//! there too). The capacity rounds up, so every member takes at least one request; with
//! only a handful in flight the bound is loose, and it tightens as the load grows.

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};
use std::sync::Arc;

/// In-flight requests to one member. Shared across member-set swaps for the same address,
/// like its health, and pointing at the group's total.
#[derive(Debug)]
pub(crate) struct PeerLoad {
    inflight: AtomicU32,
    total: Arc<AtomicU32>,
}

impl PeerLoad {
    /// A member with nothing in flight, counted into `total`.
    pub(crate) fn new(total: Arc<AtomicU32>) -> Self {
        PeerLoad {
            inflight: AtomicU32::new(0),
            total,
        }
    }

    /// Requests in flight to this member now.
    pub(crate) fn inflight(&self) -> u32 {
        self.inflight.load(Relaxed)
    }

    /// Counts one more request in flight; it is given back when the ticket drops.
    pub(crate) fn take(self: &Arc<Self>) -> LoadTicket {
        self.inflight.fetch_add(1, Relaxed);
        self.total.fetch_add(1, Relaxed);
        LoadTicket(self.clone())
    }
}

/// One request in flight to a member; dropping it gives the load back.
#[derive(Debug)]
pub struct LoadTicket(Arc<PeerLoad>);

impl Drop for LoadTicket {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Relaxed);
        self.0.total.fetch_sub(1, Relaxed);
    }
}

/// The bound of one selection: the factor and the group's requests in flight now.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bound {
    /// The configured balance factor (> 1).
    pub(crate) factor: f64,
    /// The group's requests in flight before this one.
    pub(crate) total: u32,
}

impl Bound {
    /// Whether a member of weight `w` (of `weights`, the usable members' sum) with `load`
    /// requests in flight may take one more.
    pub(crate) fn admits(&self, load: u32, w: u32, weights: u64) -> bool {
        if weights == 0 {
            return true;
        }
        let share = f64::from(self.total + 1) * f64::from(w) / weights as f64;
        let capacity = (self.factor * share).ceil();
        f64::from(load) < capacity
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_count_and_give_back() {
        let total = Arc::new(AtomicU32::new(0));
        let a = Arc::new(PeerLoad::new(total.clone()));
        let b = Arc::new(PeerLoad::new(total.clone()));
        let t1 = a.take();
        let t2 = a.take();
        let t3 = b.take();
        assert_eq!((a.inflight(), b.inflight(), total.load(Relaxed)), (2, 1, 3));
        drop(t1);
        drop(t3);
        assert_eq!((a.inflight(), b.inflight(), total.load(Relaxed)), (1, 0, 1));
        drop(t2);
        assert_eq!(total.load(Relaxed), 0);
    }

    #[test]
    fn capacity_is_factor_times_share_rounded_up() {
        // 3 equal members, 29 in flight: share of 30 is 10, capacity 11 at c = 1.1.
        let b = Bound {
            factor: 1.1,
            total: 29,
        };
        assert!(b.admits(10, 1, 3));
        assert!(!b.admits(11, 1, 3));
        // Weighted: a member of weight 2 of 4 has twice the room.
        assert!(b.admits(16, 2, 4));
        assert!(!b.admits(17, 2, 4));
        // Nothing in flight: everybody admits the first request.
        let idle = Bound {
            factor: 1.1,
            total: 0,
        };
        assert!(idle.admits(0, 1, 3));
        assert!(!idle.admits(1, 1, 3));
    }
}
