//! An upstream group: current members and peer selection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use arc_swap::ArcSwap;

use super::spec::{GroupSpec, ServerSpec};

/// A live upstream group. Members can be replaced at run time (Consul).
pub struct UpstreamGroup {
    spec: GroupSpec,
    members: ArcSwap<Vec<ServerSpec>>,
    next: AtomicUsize,
}

impl UpstreamGroup {
    /// A group seeded with the spec's static servers.
    pub fn new(spec: GroupSpec) -> Self {
        let members = ArcSwap::from_pointee(spec.servers.clone());
        UpstreamGroup {
            spec,
            members,
            next: AtomicUsize::new(0),
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The group's configuration.
    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }

    /// Current members.
    pub fn members(&self) -> Arc<Vec<ServerSpec>> {
        self.members.load_full()
    }

    /// Replaces the member set.
    pub fn set_members(&self, servers: Vec<ServerSpec>) {
        self.members.store(Arc::new(servers));
    }

    /// Picks a peer, skipping `tried`. `key` is the consistent-hash key, if any.
    pub fn select(&self, _key: Option<&[u8]>, tried: &[SocketAddr]) -> Option<SocketAddr> {
        let members = self.members.load();
        let usable: Vec<&ServerSpec> = members
            .iter()
            .filter(|s| !s.down && !tried.contains(&s.addr))
            .collect();
        let total: usize = usable.iter().map(|s| s.weight as usize).sum();
        if total == 0 {
            return None;
        }
        let mut n = self.next.fetch_add(1, Ordering::Relaxed) % total;
        for s in usable {
            if n < s.weight as usize {
                return Some(s.addr);
            }
            n -= s.weight as usize;
        }
        None
    }

    /// Records a failed attempt on `addr` (passive health).
    pub fn report_failure(&self, _addr: SocketAddr) {}

    /// Records a successful attempt on `addr`.
    pub fn report_success(&self, _addr: SocketAddr) {}
}
