//! Distribution tier end to end: consistent hashing on `$arg_productId` through the binary,
//! the fallback key when it is missing, and retry on the next ring node (passive health)
//! when a peer refuses connections.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use crate::common::dist::{servers_line, Client, DistConfig};
use crate::common::edge::Edge;
use crate::common::free_addr;
use crate::common::origin::Origin;
use edgeproxy::upstream::{GroupSpec, ServerSpec, UpstreamGroup};

/// The library's own group over `addrs`, to predict the ring outside the binary.
fn ring(addrs: &[SocketAddr]) -> UpstreamGroup {
    let servers = addrs.iter().map(|&a| ServerSpec::new(a)).collect();
    UpstreamGroup::new(
        GroupSpec::new("app", servers)
            .hashed("$arg_productId", None)
            .unwrap(),
    )
}

fn hash_edge(addrs: &[SocketAddr], extra: &[&str]) -> (Edge, Client) {
    let mut cfg = DistConfig::new()
        .group(&servers_line(addrs))
        .group("balance = \"hash\"")
        .group("hash_key = \"$arg_productId\"")
        .group("connect_timeout = \"500ms\"");
    for l in extra {
        cfg = cfg.group(l);
    }
    let edge = Edge::start(&cfg.render());
    let client = Client::new(edge.addr());
    (edge, client)
}

#[test]
fn same_product_same_origin_and_fallback_key_when_missing() {
    let origins = [Origin::start(), Origin::start(), Origin::start()];
    let addrs: Vec<SocketAddr> = origins.iter().map(|o| o.addr).collect();
    let (_edge, client) = hash_edge(&addrs, &["hash_fallback = \"$http_x_user\""]);
    let predicted = ring(&addrs);

    let mut used = BTreeSet::new();
    for round in 0..3 {
        for id in 0..60 {
            let key = format!("p{id}");
            let (status, port) = client.get(&format!("/item?productId={key}&round={round}"));
            assert_eq!(status, 200);
            let want = predicted.select(Some(key.as_bytes()), &[]).unwrap();
            assert_eq!(port, want.port(), "productId {key} (round {round})");
            used.insert(port);
        }
    }
    assert_eq!(used.len(), 3, "60 products should spread over 3 origins");

    // Missing productId: the fallback key (a header) is hashed instead, so a user sticks
    // to the node their key string maps to.
    for user in ["u1", "u2", "u3", "u4", "u5", "u6"] {
        let want = predicted.select(Some(user.as_bytes()), &[]).unwrap().port();
        for _ in 0..3 {
            let (status, port) = client.get_with("/item", &[("x-user", user)]);
            assert_eq!((status, port), (200, want), "fallback key {user}");
        }
    }

    // Neither key: round robin over every origin (no silent hot spot).
    let ports: BTreeSet<u16> = client.ports("/item", 30).into_iter().collect();
    assert_eq!(
        ports.len(),
        3,
        "requests without any key should spread: {ports:?}"
    );
}

#[test]
fn refused_peer_retries_on_next_ring_node_then_is_skipped() {
    let (a, b) = (Origin::start(), Origin::start());
    let dead = free_addr();
    let addrs = [a.addr, b.addr, dead];
    let (edge, client) = hash_edge(&addrs, &["max_fails = 1", "fail_timeout = \"60s\""]);
    let predicted = ring(&addrs);
    let on_dead: Vec<String> = (0..1000)
        .map(|i| format!("k{i}"))
        .filter(|k| predicted.select(Some(k.as_bytes()), &[]) == Some(dead))
        .take(10)
        .collect();
    assert_eq!(on_dead.len(), 10);
    let connect_failures = || edge.stderr().matches("connect failed").count();

    for (n, key) in on_dead.iter().enumerate() {
        let next = predicted.select(Some(key.as_bytes()), &[dead]).unwrap();
        let hits = (a.hits(), b.hits());
        let (status, port) = client.get(&format!("/item?productId={key}"));
        assert_eq!((status, port), (200, next.port()), "key {key}");
        assert_eq!(
            a.hits() + b.hits(),
            hits.0 + hits.1 + 1,
            "exactly one origin request per client request"
        );
        // The first request tried the dead peer once; max_fails = 1 took it out, so the
        // following ones go straight to the next node.
        assert_eq!(
            connect_failures(),
            1,
            "after request {n}:\n{}",
            edge.stderr()
        );
    }
    assert!(edge.stderr().contains("temporarily disabled"));
}
