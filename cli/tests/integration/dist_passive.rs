//! Passive health end to end (real binary): a group of one server is never taken out by
//! failed connects (nginx ignores `max_fails` for it), and when every member of a group is
//! passively out the edge still tries one instead of answering 502 for `fail_timeout`.

use std::net::SocketAddr;

use crate::common::dist::{servers_line, Client, DistConfig};
use crate::common::edge::Edge;
use crate::common::free_addr;
use crate::common::origin::Origin;

fn edge(addrs: &[SocketAddr], extra: &[&str]) -> (Edge, Client) {
    let mut cfg = DistConfig::new()
        .group(&servers_line(addrs))
        .group("max_fails = 1")
        .group("fail_timeout = \"60s\"");
    for line in extra {
        cfg = cfg.group(line);
    }
    let edge = Edge::start(&cfg.render());
    let client = Client::new(edge.addr());
    (edge, client)
}

#[test]
fn a_single_server_that_refused_once_is_used_again_at_once() {
    let addr = free_addr(); // nothing listens yet: connects are refused
    let (edge, client) = edge(&[addr], &[]);
    assert_eq!(client.get("/a").0, 502, "refused");
    let origin = Origin::builder().start_at(addr);
    let (status, port) = client.get("/b");
    assert_eq!(
        (status, port),
        (200, addr.port()),
        "the only server is not out for fail_timeout\n{}",
        edge.stderr()
    );
    assert_eq!(origin.hits_for("/b"), 1);
    assert!(
        !edge.stderr().contains("temporarily disabled"),
        "{}",
        edge.stderr()
    );
}

#[test]
fn a_hash_group_whose_members_are_all_out_still_tries_one() {
    let (a, b) = (free_addr(), free_addr());
    let (edge, client) = edge(&[a, b], &["balance = \"hash\"", "hash_key = \"$arg_id\""]);
    // Both refuse: the request tries both (retries) and each is out for 60 s.
    assert_eq!(client.get("/?id=1").0, 502);
    let stderr = edge.stderr();
    assert_eq!(
        stderr.matches("temporarily disabled").count(),
        2,
        "{stderr}"
    );
    let origin = Origin::builder().start_at(b);
    for id in 2..6 {
        let (status, port) = client.get(&format!("/?id={id}"));
        assert_eq!(
            (status, port),
            (200, b.port()),
            "id {id}: a member back before fail_timeout is found\n{}",
            edge.stderr()
        );
    }
    assert!(origin.hits() >= 4);
}
