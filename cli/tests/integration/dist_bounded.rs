//! Consistent hashing with bounded loads (`hash_balance_factor`): concurrent requests for one
//! key spill from its ring member to the next ones once it carries more than its share of the
//! requests in flight; without the factor they all go to the one member.

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::Duration;

use crate::common::dist::{servers_line, Client, DistConfig};
use crate::common::edge::{check_text, Edge};
use crate::common::origin::Origin;

/// Sends `n` requests for the same product at once and returns the answering origin ports.
fn burst(edge: &Edge, n: usize) -> Vec<u16> {
    let barrier = Arc::new(Barrier::new(n));
    let addr = edge.addr();
    let threads: Vec<_> = (0..n)
        .map(|i| {
            let barrier = barrier.clone();
            std::thread::spawn(move || {
                let client = Client::new(addr);
                barrier.wait();
                let (status, port) = client.get(&format!("/item?productId=hot&n={i}"));
                assert_eq!(status, 200, "request {i}");
                port
            })
        })
        .collect();
    threads.into_iter().map(|t| t.join().unwrap()).collect()
}

fn edge(addrs: &[SocketAddr], factor: Option<&str>) -> Edge {
    let mut cfg = DistConfig::new()
        .group(&servers_line(addrs))
        .group("balance = \"hash\"")
        .group("hash_key = \"$arg_productId\"")
        .group("read_timeout = \"10s\"");
    if let Some(f) = factor {
        cfg = cfg.group(&format!("hash_balance_factor = {f}"));
    }
    Edge::start(&cfg.render())
}

#[test]
fn one_hot_key_spills_to_the_next_members_only_with_a_balance_factor() {
    // Slow origins keep every request in flight while the others arrive.
    let origins: Vec<Origin> = (0..3)
        .map(|_| Origin::builder().delay(Duration::from_millis(400)).start())
        .collect();
    let addrs: Vec<SocketAddr> = origins.iter().map(|o| o.addr).collect();
    let count = |ports: &[u16]| -> Vec<usize> {
        addrs
            .iter()
            .map(|a| ports.iter().filter(|&&p| p == a.port()).count())
            .collect()
    };

    let plain = edge(&addrs, None);
    let per_origin = count(&burst(&plain, 30));
    assert_eq!(
        per_origin.iter().filter(|&&n| n > 0).count(),
        1,
        "plain ketama sends one key to one member: {per_origin:?}"
    );
    drop(plain);

    let bounded = edge(&addrs, Some("1.25"));
    let per_origin = count(&burst(&bounded, 30));
    assert_eq!(per_origin.iter().sum::<usize>(), 30);
    // The bound is 1.25 × the mean share of requests in flight (10 of 30), rounded up:
    // no member takes more than 13, so the key reaches all three.
    assert!(
        per_origin.iter().all(|&n| (1..=13).contains(&n)),
        "bounded loads spread the burst: {per_origin:?}"
    );

    // Once the burst is over the key goes back to its own member.
    let client = Client::new(bounded.addr());
    let homes: Vec<u16> = (0..5)
        .map(|i| client.get(&format!("/item?productId=hot&after={i}")).1)
        .collect();
    assert!(homes.windows(2).all(|w| w[0] == w[1]), "{homes:?}");
}

#[test]
fn a_balance_factor_is_checked() {
    let cfg = |extra: &str| {
        format!(
            "[upstreams.app]\nservers = [{{ addr = \"127.0.0.1:9001\" }}]\n{extra}\n\n[[servers]]\nlisten = [\"127.0.0.1:18090\"]\n\n[[servers.routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n"
        )
    };
    let out = check_text(&cfg("hash_balance_factor = 1.25"));
    assert_eq!(out.code, Some(1));
    let p = out.path.display();
    assert!(
        out.stderr.contains(&format!(
            "{p}:3:23: error: upstream `app`: `hash_balance_factor` needs balance = \"hash\""
        )),
        "{}",
        out.stderr
    );
    let out = check_text(&cfg(
        "balance = \"hash\"\nhash_key = \"$arg_id\"\nhash_balance_factor = 0.5",
    ));
    assert_eq!(out.code, Some(1));
    let p = out.path.display();
    assert!(
        out.stderr.contains(&format!(
            "{p}:5:23: error: `hash_balance_factor` = 0.5 is out of range"
        )),
        "{}",
        out.stderr
    );
    let out = check_text(&cfg(
        "balance = \"hash\"\nhash_key = \"$arg_id\"\nhash_balance_factor = 1.25",
    ));
    assert_eq!(out.code, Some(0), "{}", out.stderr);
}
