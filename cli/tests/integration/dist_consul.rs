//! Distribution tier end to end: the real binary follows Consul KV (the double) live.
//! Put → requests reach the node; delete → they stop; weight change → distribution follows.
//! Prints the time from each KV write to the first request routed by it.

use std::time::Duration;

use crate::common::consul::ConsulDouble;
use crate::common::dist::{kv_key, quantile, Client, DistConfig};
use crate::common::edge::Edge;
use crate::common::origin::Origin;
use crate::common::wait_until;

const BOUND: Duration = Duration::from_secs(10);

fn edge_on(consul: &ConsulDouble) -> (Edge, Client) {
    let cfg = DistConfig::new()
        .group("connect_timeout = \"500ms\"")
        .consul(&consul.url(), &[]);
    let edge = Edge::start(&cfg.render());
    let client = Client::new(edge.addr());
    (edge, client)
}

#[test]
fn put_routes_within_bound_and_delete_stops_routing() {
    let consul = ConsulDouble::start();
    let (a, b) = (Origin::start(), Origin::start());
    consul.put(&kv_key(a.addr), "");
    let (edge, client) = edge_on(&consul);
    assert!(
        client.ports("/", 5).iter().all(|&p| p == a.addr.port()),
        "only the Consul member answers at start\n{}",
        edge.stderr()
    );

    let mut latencies = Vec::new();
    for round in 0..20 {
        if round >= 10 {
            // The second half measures an idle watcher, parked in its blocking query, instead
            // of one within its 50 ms rate limit between reads.
            wait_until("the watcher's blocking query", BOUND, || {
                consul.parked() > 0
            })
            .unwrap();
        }
        consul.put(
            &kv_key(b.addr),
            r#"{"weight":1,"max_fails":2,"fail_timeout":10}"#,
        );
        let t = client
            .time_until_routed_to(b.addr.port(), BOUND)
            .unwrap_or_else(|| panic!("round {round}: put node never routed\n{}", edge.stderr()));
        latencies.push(t);
        consul.delete(&kv_key(b.addr));
        assert!(
            client.until_avoids(b.addr.port(), 10, BOUND),
            "round {round}: deleted node still routed"
        );
    }
    let before = b.hits();
    let ports = client.ports("/after-delete", 50);
    assert!(ports.iter().all(|&p| p == a.addr.port()));
    assert_eq!(b.hits(), before, "a deleted node received requests");

    for (what, v) in [
        ("back-to-back", &mut latencies[..10].to_vec()),
        ("idle watcher", &mut latencies[10..].to_vec()),
    ] {
        let max = *v.iter().max().unwrap();
        let p50 = quantile(v, 0.5);
        eprintln!("KV write -> first routed request, {what}, 10 puts: p50 {p50:?}, max {max:?}, all {v:?}");
    }
}

#[test]
fn weight_change_moves_the_round_robin_share() {
    let consul = ConsulDouble::start();
    let (a, b) = (Origin::start(), Origin::start());
    consul.put(&kv_key(a.addr), r#"{"weight":1}"#);
    consul.put(&kv_key(b.addr), r#"{"weight":1}"#);
    let (_edge, client) = edge_on(&consul);

    let share_of_a = |n: usize| {
        client
            .ports("/share", n)
            .iter()
            .filter(|&&p| p == a.addr.port())
            .count()
    };
    wait_until("a 1:1 share", BOUND, || share_of_a(4) == 2).unwrap();
    let even = share_of_a(400);
    assert!((180..=220).contains(&even), "1:1 gave A {even}/400");

    consul.put(&kv_key(b.addr), r#"{"weight":3}"#);
    // Under 1:1 every 4 consecutive round-robin requests hold 2 of A, under 1:3 exactly 1.
    wait_until("the 1:3 share", BOUND, || share_of_a(4) == 1).unwrap();
    let skewed = share_of_a(400);
    assert!(
        (85..=115).contains(&skewed),
        "1:3 gave A {skewed}/400 (expected ~100)"
    );
}
