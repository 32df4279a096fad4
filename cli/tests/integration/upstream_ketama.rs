//! Consistent-hash properties of `UpstreamGroup::select`.

use std::collections::HashMap;
use std::net::SocketAddr;

use edgeproxy::upstream::{GroupSpec, ServerSpec, UpstreamGroup};

fn server(i: u16, weight: u32) -> ServerSpec {
    let addr = SocketAddr::from(([10, 0, (i / 200) as u8, (i % 200) as u8 + 1], 8080));
    ServerSpec {
        max_fails: 0,
        ..ServerSpec::new(addr).weight(weight)
    }
}

fn group(servers: Vec<ServerSpec>) -> UpstreamGroup {
    UpstreamGroup::new(
        GroupSpec::new("g", servers)
            .hashed("$arg_productId", None)
            .unwrap(),
    )
}

const KEYS: usize = 10_000;

fn map(g: &UpstreamGroup, tried: &[SocketAddr]) -> Vec<SocketAddr> {
    (0..KEYS)
        .map(|i| {
            g.select(Some(format!("product-{i}").as_bytes()), tried)
                .unwrap()
        })
        .collect()
}

#[test]
fn adding_a_node_moves_about_one_in_n_plus_one_keys_all_to_it() {
    for n in [3u16, 10, 30] {
        let servers: Vec<_> = (0..n).map(|i| server(i, 1)).collect();
        let g = group(servers.clone());
        let before = map(&g, &[]);
        let mut more = servers;
        more.push(server(n, 1));
        g.set_members(more);
        let after = map(&g, &[]);
        let moved: Vec<usize> = (0..KEYS).filter(|&i| before[i] != after[i]).collect();
        assert!(
            moved.iter().all(|&i| after[i] == server(n, 1).addr),
            "keys moved between old nodes"
        );
        let frac = moved.len() as f64 / KEYS as f64;
        let ideal = 1.0 / (n as f64 + 1.0);
        assert!(
            frac > ideal * 0.5 && frac < ideal * 1.6,
            "n={n}: moved {frac}, ideal {ideal}"
        );
    }
}

#[test]
fn removing_a_node_moves_only_its_keys() {
    let servers: Vec<_> = (0..8).map(|i| server(i, 1)).collect();
    let g = group(servers.clone());
    let before = map(&g, &[]);
    let gone = servers[3].addr;
    g.set_members(servers.into_iter().filter(|s| s.addr != gone).collect());
    let after = map(&g, &[]);
    for i in 0..KEYS {
        if before[i] != gone {
            assert_eq!(before[i], after[i]);
        }
    }
}

#[test]
fn weights_are_respected_roughly() {
    let weights = [1u32, 2, 3, 4];
    let g = group(
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| server(i as u16, w))
            .collect(),
    );
    let mut counts: HashMap<SocketAddr, usize> = HashMap::new();
    for a in map(&g, &[]) {
        *counts.entry(a).or_default() += 1;
    }
    for (i, &w) in weights.iter().enumerate() {
        let share = counts[&server(i as u16, w).addr] as f64 / KEYS as f64;
        let ideal = w as f64 / 10.0;
        assert!(
            (share - ideal).abs() < ideal * 0.35,
            "weight {w}: share {share}, ideal {ideal}"
        );
    }
}

#[test]
fn skipping_tried_walks_to_the_next_node_like_removing_it() {
    let servers: Vec<_> = (0..6).map(|i| server(i, 1 + i as u32 % 3)).collect();
    let g = group(servers.clone());
    let first = map(&g, &[]);
    let without = group(
        servers
            .iter()
            .filter(|s| s.addr != servers[2].addr)
            .cloned()
            .collect(),
    );
    let mut down = servers.clone();
    down[2].down = true;
    let with_down = group(down);
    let walked = map(&g, &[servers[2].addr]);
    let expected = map(&without, &[]);
    assert_eq!(walked, expected, "tried peer skipped by walking the ring");
    assert_eq!(
        map(&with_down, &[]),
        expected,
        "down peer skipped by walking the ring"
    );
    for i in 0..KEYS {
        if first[i] != servers[2].addr {
            assert_eq!(first[i], walked[i]);
        }
    }
    // second retry skips both
    let both = [servers[2].addr, servers[4].addr];
    assert!(map(&g, &both).iter().all(|a| !both.contains(a)));
}

#[test]
fn weight_zero_is_dropped_not_a_panic() {
    let g = group(vec![server(0, 0), server(1, 1)]);
    assert!(map(&g, &[]).iter().all(|a| *a == server(1, 1).addr));
    let g = group(vec![server(0, 0)]);
    assert_eq!(g.select(Some(b"x"), &[]), None);
}
