//! An upstream group: current members and peer selection.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::{ArcSwap, ArcSwapOption};
use pingora::http::RequestHeader;

use crate::metrics::UpstreamMetrics;
use crate::request::Vars;

use super::balancer::Balancer;
use super::clock::now_ms;
use super::failures::{FailureSnapshot, Kind};
use super::load::LoadTicket;
use super::spec::{BalanceSpec, GroupSpec, ServerSpec};
use super::status::WatchStatus;
use crate::request::template::{RequestView, Template};

/// Where a request's hash key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The group does not hash.
    NotHashed,
    /// The configured `hash_key`.
    Primary,
    /// The `hash_fallback` template (the primary key was missing).
    Fallback,
    /// Neither produced a key: round robin.
    Missing,
}

/// Health of one member as seen by the balancer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PeerState {
    /// Selectable (unless marked `down` by the operator).
    Up,
    /// Out for `fail_timeout` after `max_fails` failed requests.
    PassivelyDown,
    /// Out after `fall` failed active checks, until `rise` pass.
    ActivelyDown,
}

/// A live upstream group. Members can be replaced at run time (Consul).
pub struct UpstreamGroup {
    spec: GroupSpec,
    state: ArcSwap<Balancer>,
    next: AtomicUsize,
    keys: Option<(Template, Option<Template>)>,
    /// `hash_balance_factor` of a hash group: load-bounded walks (super::load).
    balance_factor: Option<f64>,
    /// Serializes `set_members` so health counters carry over consistently.
    update: Mutex<()>,
    /// Status of the Consul watcher feeding this group, once one is started.
    watch: ArcSwapOption<WatchStatus>,
    /// The group's metrics, resolved once.
    metrics: UpstreamMetrics,
}

impl UpstreamGroup {
    /// A group seeded with the spec's static servers.
    pub fn new(spec: GroupSpec) -> Self {
        let (keys, balance_factor) = match &spec.balance {
            BalanceSpec::Hash(h) => (Some((h.key.clone(), h.fallback.clone())), h.balance_factor),
            BalanceSpec::RoundRobin => (None, None),
        };
        let hash = matches!(spec.balance, BalanceSpec::Hash(_));
        let state = ArcSwap::from_pointee(Balancer::new(spec.servers.clone(), None, hash));
        let metrics = UpstreamMetrics::new(&spec.name, hash);
        UpstreamGroup {
            spec,
            state,
            next: AtomicUsize::new(0),
            keys,
            balance_factor,
            update: Mutex::new(()),
            watch: ArcSwapOption::empty(),
            metrics,
        }
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }

    /// The group's metrics (`edgeproxy_upstream_*{group}`), resolved when it was built.
    pub fn metrics(&self) -> &UpstreamMetrics {
        &self.metrics
    }

    /// The group's configuration.
    pub fn spec(&self) -> &GroupSpec {
        &self.spec
    }

    /// Current members.
    pub fn members(&self) -> Arc<Vec<ServerSpec>> {
        self.state.load().members.clone()
    }

    /// Replaces the member set atomically; the ring is rebuilt here, not per request.
    /// Passive-health state is kept for addresses that stay.
    pub fn set_members(&self, servers: Vec<ServerSpec>) {
        let _guard = self.update.lock().unwrap_or_else(|p| p.into_inner());
        let hash = matches!(self.spec.balance, BalanceSpec::Hash(_));
        let old = self.state.load_full();
        self.state
            .store(Arc::new(Balancer::new(servers, Some(&old), hash)));
    }

    /// Evaluates the hash key (or, when it is missing, the fallback template) into `out`
    /// and says which one produced it. On [`KeySource::Missing`] the caller passes `None`
    /// to [`select`](Self::select) (round robin) and should count it: a missing key must
    /// never be a silent hot spot.
    pub fn hash_key(
        &self,
        req: &RequestHeader,
        client: Option<SocketAddr>,
        vars: &Vars,
        out: &mut String,
    ) -> KeySource {
        let Some((key, fallback)) = &self.keys else {
            out.clear();
            return KeySource::NotHashed;
        };
        let r = RequestView {
            header: req,
            client,
            vars,
        };
        if key.eval(&r, out) {
            KeySource::Primary
        } else if fallback.as_ref().is_some_and(|f| f.eval(&r, out)) {
            KeySource::Fallback
        } else {
            KeySource::Missing
        }
    }

    /// Picks a peer, never one in `tried`, marked `down` or of weight 0, and preferably one
    /// that health (passive, active) has not taken out.
    /// With a hash group and `Some(key)`, walks the ketama ring from the key's point (nginx
    /// `hash … consistent`), skipping members at their load bound when the group has a
    /// `hash_balance_factor`; otherwise smooth weighted round robin. Backup servers are used
    /// only when no primary is available. When every remaining peer is out, the one only
    /// passively out whose `fail_timeout` ends first is tried, then (all actively out) any
    /// of them: `None` only when no peer is left at all.
    pub fn select(&self, key: Option<&[u8]>, tried: &[SocketAddr]) -> Option<SocketAddr> {
        self.pick(key, tried).map(|(addr, _)| addr)
    }

    /// [`select`](Self::select), and with a `hash_balance_factor` a ticket that counts the
    /// request in flight to the chosen member until it is dropped (keep it for as long as
    /// the attempt lasts).
    pub fn pick(
        &self,
        key: Option<&[u8]>,
        tried: &[SocketAddr],
    ) -> Option<(SocketAddr, Option<LoadTicket>)> {
        let state = self.state.load();
        let now = now_ms();
        let factor = self.balance_factor;
        let i = match key {
            Some(k) if self.keys.is_some() => state.select_hash(k, tried, now, factor),
            _ => {
                let n = self.next.fetch_add(1, Ordering::Relaxed);
                state.select_rr(n, tried, now)
            }
        }?;
        let ticket = factor.map(|_| state.take_load(i));
        Some((state.members[i].addr, ticket))
    }

    /// Records a failed connection to `addr`, `why` being the error: kept (with its time)
    /// for the status API, and counted by passive health, except in a group of one server,
    /// as nginx does: there is nobody to send the traffic to instead.
    pub fn report_failure(&self, addr: SocketAddr, why: &str) {
        let state = self.state.load();
        let Some(i) = state.position(addr) else {
            return;
        };
        let m = &state.members[i];
        let health = &state.health[i];
        let passive = !state.single && m.max_fails > 0;
        health.failures.record(Kind::Connect { passive }, why);
        if passive && health.failure(now_ms(), m.max_fails, m.fail_timeout) {
            tracing::warn!(
                group = %self.spec.name, %addr,
                "upstream server temporarily disabled for {:?} after {} failure(s)",
                m.fail_timeout, m.max_fails
            );
        }
    }

    /// Failure counts and the last error of member `addr`; `None` if it is not a member.
    /// The record stays with the address across member-set changes, like its health.
    pub fn peer_failures(&self, addr: SocketAddr) -> Option<FailureSnapshot> {
        let state = self.state.load();
        Some(state.health[state.position(addr)?].failures.snapshot())
    }

    /// Health of member `addr` now; `None` if it is not a member.
    pub fn peer_state(&self, addr: SocketAddr) -> Option<PeerState> {
        let state = self.state.load();
        let h = &state.health[state.position(addr)?];
        Some(if h.actively_down() {
            PeerState::ActivelyDown
        } else if h.passively_down(now_ms()) {
            PeerState::PassivelyDown
        } else {
            PeerState::Up
        })
    }

    /// Records an active health check of `addr` (`Err` says why it failed) against the
    /// group's `rise`/`fall`; logs when the peer goes down or comes back. The state lives
    /// with the address, so it survives member-set changes while the address stays.
    pub fn record_check(&self, addr: SocketAddr, result: Result<(), super::CheckError>) {
        let Some(hc) = &self.spec.health_check else {
            return;
        };
        let state = self.state.load();
        let Some(i) = state.position(addr) else {
            return;
        };
        if let Err(why) = &result {
            let why = format!("health check failed: {why}");
            state.health[i].failures.record(Kind::Check, &why);
        }
        match (
            state.health[i].check_result(result.is_ok(), hc.rise, hc.fall),
            result,
        ) {
            (Some(false), Err(why)) => tracing::warn!(
                group = %self.spec.name, %addr,
                "upstream server down after {} failed health check(s): {why}", hc.fall
            ),
            (Some(true), _) => tracing::info!(
                group = %self.spec.name, %addr,
                "upstream server up again after {} passed health check(s)", hc.rise
            ),
            (_, Err(why)) => {
                tracing::debug!(group = %self.spec.name, %addr, "health check failed: {why}")
            }
            _ => {}
        }
    }

    /// Attaches the live status of the Consul watcher that feeds this group (set by
    /// `discovery::prepare`; a later call replaces an earlier one).
    pub fn set_watch_status(&self, status: Arc<WatchStatus>) {
        self.watch.store(Some(status));
    }

    /// The live status of this group's Consul watcher; `None` for static groups and
    /// before discovery started.
    pub fn watch_status(&self) -> Option<Arc<WatchStatus>> {
        self.watch.load_full()
    }

    /// Records a successful attempt on `addr`.
    pub fn report_success(&self, addr: SocketAddr) {
        let state = self.state.load();
        if let Some(i) = state.position(addr) {
            state.health[i].success();
        }
    }
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "bounded_tests.rs"]
mod bounded_tests;
