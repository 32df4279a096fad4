use std::collections::HashMap;
use std::time::Duration;

use super::*;

pub(crate) fn server(port: u16, weight: u32) -> ServerSpec {
    ServerSpec {
        fail_timeout: Duration::from_secs(30),
        ..ServerSpec::new(SocketAddr::from(([127, 0, 0, 1], port))).weight(weight)
    }
}

fn group(servers: Vec<ServerSpec>, hash: bool) -> UpstreamGroup {
    let spec = GroupSpec::new("g", servers);
    UpstreamGroup::new(if hash {
        spec.hashed("$arg_id", None).unwrap()
    } else {
        spec
    })
}

fn port(a: Option<SocketAddr>) -> u16 {
    a.map(|a| a.port()).unwrap_or(0)
}

#[test]
fn round_robin_respects_weights_and_skips() {
    let g = group(vec![server(1, 3), server(2, 1), server(3, 0)], false);
    let mut counts = HashMap::new();
    for _ in 0..400 {
        *counts.entry(port(g.select(None, &[]))).or_insert(0) += 1;
    }
    assert_eq!(counts.get(&1), Some(&300));
    assert_eq!(counts.get(&2), Some(&100));
    assert_eq!(counts.get(&3), None, "weight 0 never selected");
    let tried = [SocketAddr::from(([127, 0, 0, 1], 1))];
    for _ in 0..10 {
        assert_eq!(port(g.select(None, &tried)), 2);
    }
}

#[test]
fn backup_only_when_primaries_unavailable() {
    let mut b = server(9, 1);
    b.backup = true;
    let mut d = server(2, 1);
    d.down = true;
    for hash in [false, true] {
        let g = group(vec![server(1, 1), d.clone(), b.clone()], hash);
        for i in 0..50 {
            let k = format!("k{i}");
            assert_eq!(port(g.select(Some(k.as_bytes()), &[])), 1);
        }
        let tried = [server(1, 1).addr];
        assert_eq!(port(g.select(Some(b"x"), &tried)), 9);
        assert_eq!(port(g.select(None, &tried)), 9);
        let all = [server(1, 1).addr, b.addr];
        assert_eq!(g.select(Some(b"x"), &all), None);
    }
}

#[test]
fn passive_health_takes_peer_out_and_success_brings_back() {
    let g = group(vec![server(1, 1), server(2, 1)], true);
    let key = (0..100)
        .map(|i| format!("k{i}"))
        .find(|k| port(g.select(Some(k.as_bytes()), &[])) == 1)
        .unwrap();
    g.report_failure(server(1, 1).addr, "refused"); // max_fails = 1
    assert_eq!(port(g.select(Some(key.as_bytes()), &[])), 2);
    assert_eq!(port(g.select(None, &[])), 2);
    assert_eq!(port(g.select(None, &[])), 2);
    // health survives a membership swap that keeps the address
    g.set_members(vec![server(1, 1), server(2, 1), server(3, 1)]);
    assert_ne!(port(g.select(Some(key.as_bytes()), &[])), 1);
    g.report_success(server(1, 1).addr);
    assert_eq!(port(g.select(Some(key.as_bytes()), &[])), 1);
    // unknown addresses are ignored
    g.report_failure(server(77, 1).addr, "refused");
}

#[test]
fn empty_group_and_hash_key_fallback() {
    let g = group(vec![], true);
    assert_eq!(g.select(Some(b"x"), &[]), None);
    assert_eq!(g.select(None, &[]), None);
    let mut out = String::new();
    let req = RequestHeader::build("GET", b"/?id=7", None).unwrap();
    assert_eq!(
        g.hash_key(&req, None, &Default::default(), &mut out),
        KeySource::Primary
    );
    assert_eq!(out, "7");
    let req = RequestHeader::build("GET", b"/", None).unwrap();
    assert_eq!(
        g.hash_key(&req, None, &Default::default(), &mut out),
        KeySource::Missing
    );
    let rr = group(vec![server(1, 1)], false);
    assert_eq!(
        rr.hash_key(&req, None, &Default::default(), &mut out),
        KeySource::NotHashed
    );
    assert_eq!(port(rr.select(Some(b"ignored"), &[])), 1);
}

#[test]
fn actively_down_peer_is_skipped_and_stays_down_across_member_changes() {
    use crate::upstream::spec::{HealthCheckKind, HealthCheckSpec};
    let mut spec = group(vec![server(1, 1), server(2, 1)], true).spec().clone();
    spec.health_check = Some(HealthCheckSpec {
        kind: HealthCheckKind::Tcp,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        rise: 2,
        fall: 1,
    });
    let g = UpstreamGroup::new(spec);
    let one = SocketAddr::from(([127, 0, 0, 1], 1));
    g.record_check(
        one,
        Err(crate::upstream::CheckError::Timeout(Duration::from_secs(1))),
    );
    assert_eq!(g.peer_state(one), Some(PeerState::ActivelyDown));
    g.set_members(vec![server(1, 1), server(2, 1), server(3, 1)]);
    assert_eq!(g.peer_state(one), Some(PeerState::ActivelyDown), "kept");
    for k in 0..200 {
        let key = format!("k{k}");
        assert_ne!(port(g.select(Some(key.as_bytes()), &[])), 1);
        assert_ne!(port(g.select(None, &[])), 1);
    }
    g.record_check(one, Ok(()));
    assert_eq!(g.peer_state(one), Some(PeerState::ActivelyDown), "rise = 2");
    g.record_check(one, Ok(()));
    assert_eq!(g.peer_state(one), Some(PeerState::Up));
}

#[test]
fn peer_state_and_watch_status_are_readable() {
    let g = group(vec![server(1, 1), server(2, 1)], false);
    assert_eq!(g.peer_state(server(1, 1).addr), Some(PeerState::Up));
    g.report_failure(server(1, 1).addr, "refused"); // max_fails = 1
    assert_eq!(
        g.peer_state(server(1, 1).addr),
        Some(PeerState::PassivelyDown)
    );
    assert_eq!(g.peer_state(server(2, 1).addr), Some(PeerState::Up));
    assert_eq!(g.peer_state(server(9, 1).addr), None);

    assert!(g.watch_status().is_none());
    let status = Arc::new(WatchStatus::default());
    status.set_index(42);
    g.set_watch_status(status);
    assert_eq!(g.watch_status().map(|s| s.snapshot().last_index), Some(42));
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

#[test]
fn a_single_server_is_never_taken_out_by_passive_health() {
    for hash in [false, true] {
        let g = group(vec![server(1, 1)], hash);
        for _ in 0..5 {
            g.report_failure(addr(1), "refused"); // max_fails = 1
        }
        assert_eq!(g.peer_state(addr(1)), Some(PeerState::Up), "hash={hash}");
        assert_eq!(port(g.select(Some(b"k"), &[])), 1);
        assert_eq!(port(g.select(None, &[])), 1);
        assert_eq!(g.select(None, &[addr(1)]), None, "tried stays tried");
        // one selectable server beside an operator-`down` one is a single server too
        let mut d = server(2, 1);
        d.down = true;
        let g = group(vec![server(1, 1), d], hash);
        g.report_failure(addr(1), "refused");
        assert_eq!(g.peer_state(addr(1)), Some(PeerState::Up));
    }
}

#[test]
fn a_single_server_with_a_backup_is_taken_out_and_the_backup_used() {
    let mut b = server(9, 1);
    b.backup = true;
    for hash in [false, true] {
        let g = group(vec![server(1, 1), b.clone()], hash);
        g.report_failure(addr(1), "refused");
        assert_eq!(g.peer_state(addr(1)), Some(PeerState::PassivelyDown));
        assert_eq!(port(g.select(Some(b"k"), &[])), 9, "hash={hash}");
        assert_eq!(port(g.select(None, &[])), 9);
    }
}

#[test]
fn when_all_are_passively_out_the_one_due_back_first_is_tried() {
    let mut long = server(1, 1);
    long.fail_timeout = Duration::from_secs(60);
    let mut b = server(9, 1);
    b.backup = true;
    b.fail_timeout = Duration::from_secs(90);
    let mut d = server(3, 1);
    d.down = true;
    for hash in [false, true] {
        // member order puts the longest time-out first: order alone would pick it
        let g = group(vec![long.clone(), server(2, 1), d.clone(), b.clone()], hash);
        for p in [1, 2, 9] {
            g.report_failure(addr(p), "refused");
            assert_eq!(g.peer_state(addr(p)), Some(PeerState::PassivelyDown));
        }
        for k in 0..20 {
            let key = format!("k{k}");
            assert_eq!(port(g.select(Some(key.as_bytes()), &[])), 2, "hash={hash}");
            assert_eq!(port(g.select(None, &[])), 2);
        }
        // a retry goes on to the next one due back; `down` is never tried
        assert_eq!(port(g.select(Some(b"k"), &[addr(2)])), 1);
        assert_eq!(port(g.select(None, &[addr(2), addr(1)])), 9);
        assert_eq!(g.select(Some(b"k"), &[addr(2), addr(1), addr(9)]), None);
        // the peer that answers is back for everyone
        g.report_success(addr(1));
        assert_eq!(port(g.select(None, &[])), 1);
    }
}

#[test]
fn actively_down_peers_stay_out_unless_all_are_out() {
    use crate::upstream::spec::{HealthCheckKind, HealthCheckSpec};
    for hash in [false, true] {
        let mut spec = group(vec![server(1, 1), server(2, 1)], hash).spec().clone();
        spec.health_check = Some(HealthCheckSpec {
            kind: HealthCheckKind::Tcp,
            interval: Duration::from_secs(1),
            timeout: Duration::from_secs(1),
            rise: 1,
            fall: 1,
        });
        let g = UpstreamGroup::new(spec);
        let down = || Err(crate::upstream::CheckError::Timeout(Duration::from_secs(1)));
        g.record_check(addr(1), down());
        g.report_failure(addr(2), "refused");
        // 1 is actively out, 2 only passively: 2 is the better bet
        for k in 0..20 {
            let key = format!("k{k}");
            assert_eq!(port(g.select(Some(key.as_bytes()), &[])), 2, "hash={hash}");
        }
        g.record_check(addr(2), down());
        // everything actively out: still tried rather than nobody
        let first = g.select(Some(b"k"), &[]);
        assert!(first.is_some());
        let second = g.select(Some(b"k"), &[first.unwrap_or(addr(0))]);
        assert!(second.is_some() && second != first);
    }
}

#[test]
fn failures_are_counted_per_member_and_kept_across_member_changes() {
    use crate::upstream::spec::{HealthCheckKind, HealthCheckSpec};
    let mut spec = group(vec![server(1, 1), server(2, 1)], false)
        .spec()
        .clone();
    spec.health_check = Some(HealthCheckSpec {
        kind: HealthCheckKind::Tcp,
        interval: Duration::from_secs(1),
        timeout: Duration::from_secs(1),
        rise: 1,
        fall: 3,
    });
    let g = UpstreamGroup::new(spec);
    assert_eq!(g.peer_failures(addr(9)), None);
    let clean = g.peer_failures(addr(2)).unwrap();
    assert_eq!((clean.passive, clean.connect, clean.check), (0, 0, 0));
    assert_eq!(clean.last_error, None);

    g.report_failure(addr(1), "connect to 127.0.0.1:1 failed: refused");
    g.record_check(
        addr(1),
        Err(crate::upstream::CheckError::Timeout(Duration::from_secs(1))),
    );
    g.set_members(vec![server(1, 1), server(3, 1)]);
    let f = g.peer_failures(addr(1)).unwrap();
    assert_eq!((f.passive, f.connect, f.check), (1, 1, 1));
    let last = f.last_error.unwrap();
    assert_eq!(last.message, "health check failed: no answer within 1s");

    // a group of one server: counted as a connect failure, not by passive health
    let single = group(vec![server(1, 1)], false);
    single.report_failure(addr(1), "refused");
    let f = single.peer_failures(addr(1)).unwrap();
    assert_eq!((f.passive, f.connect), (0, 1));
    assert_eq!(f.last_error.map(|e| e.message).as_deref(), Some("refused"));
}
