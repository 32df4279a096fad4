use super::*;
use crate::upstream::FirstHopSpec;

fn spec() -> HotSpec {
    HotSpec {
        min_rate: 100.0,
        min_share: 0.1,
        exit_ratio: 0.5,
        hold: Duration::from_secs(5),
        max_keys: 2,
        ..HotSpec::new("g")
    }
}

fn report(node: &str, total: f64, keys: &[(&str, f64)]) -> Report {
    Report {
        node: node.into(),
        rates: Rates {
            total,
            keys: keys.iter().map(|(k, r)| (k.to_string(), *r)).collect(),
        },
    }
}

fn keys(v: &View) -> Vec<&str> {
    v.hot().keys().map(String::as_str).collect()
}

#[test]
fn rates_of_all_nodes_add_up_before_the_thresholds_apply() {
    let t0 = Instant::now();
    let mut v = View::new(Duration::from_secs(1));
    // 60 req/s on each of two nodes: neither alone reaches 100, together they do.
    v.receive(report("a", 300.0, &[("k", 60.0)]), t0);
    assert!(v.evaluate(&spec(), t0, SystemTime::now()).is_empty());
    v.receive(report("b", 300.0, &[("k", 60.0)]), t0);
    let changes = v.evaluate(&spec(), t0, SystemTime::now());
    assert_eq!(changes, vec![Change::Entered("k".into(), 120.0, 0.2)]);
    let h = &v.hot()["k"];
    assert_eq!(h.nodes.len(), 2);
    assert_eq!(v.total(), 600.0);
}

#[test]
fn both_thresholds_must_be_met() {
    let t0 = Instant::now();
    let mut v = View::new(Duration::from_secs(1));
    // Fast but a small share of a big total.
    v.receive(report("a", 10_000.0, &[("big", 500.0)]), t0);
    // A big share of a small total.
    v.receive(report("b", 0.0, &[]), t0);
    v.evaluate(&spec(), t0, SystemTime::now());
    assert!(keys(&v).is_empty());
    let mut v = View::new(Duration::from_secs(1));
    v.receive(report("a", 50.0, &[("small", 40.0)]), t0);
    v.evaluate(&spec(), t0, SystemTime::now());
    assert!(keys(&v).is_empty());
}

#[test]
fn a_key_leaves_only_after_hold_below_the_exit_thresholds() {
    let t0 = Instant::now();
    let s = spec();
    let mut v = View::new(Duration::from_secs(60));
    v.receive(report("a", 1000.0, &[("k", 200.0)]), t0);
    v.evaluate(&s, t0, SystemTime::now());
    // Below the entry threshold but above the exit one: stays, however long.
    v.receive(report("a", 1000.0, &[("k", 60.0)]), t0);
    assert!(v
        .evaluate(&s, t0 + Duration::from_secs(30), SystemTime::now())
        .is_empty());
    // Below the exit threshold: stays for `hold`, then leaves.
    v.receive(
        report("a", 1000.0, &[("k", 40.0)]),
        t0 + Duration::from_secs(31),
    );
    assert!(v
        .evaluate(&s, t0 + Duration::from_secs(31), SystemTime::now())
        .is_empty());
    // Back up briefly: the hold starts over.
    v.receive(
        report("a", 1000.0, &[("k", 70.0)]),
        t0 + Duration::from_secs(34),
    );
    assert!(v
        .evaluate(&s, t0 + Duration::from_secs(34), SystemTime::now())
        .is_empty());
    v.receive(
        report("a", 1000.0, &[("k", 10.0)]),
        t0 + Duration::from_secs(35),
    );
    assert!(v
        .evaluate(&s, t0 + Duration::from_secs(35), SystemTime::now())
        .is_empty());
    assert!(v
        .evaluate(&s, t0 + Duration::from_secs(39), SystemTime::now())
        .is_empty());
    let changes = v.evaluate(&s, t0 + Duration::from_secs(40), SystemTime::now());
    assert_eq!(
        changes,
        vec![Change::Left("k".into(), Duration::from_secs(40))]
    );
}

#[test]
fn stale_reports_stop_counting_and_the_set_is_bounded_hottest_first() {
    let t0 = Instant::now();
    let s = spec();
    let mut v = View::new(Duration::from_secs(1));
    v.receive(
        report("a", 2000.0, &[("x", 300.0), ("y", 500.0), ("z", 400.0)]),
        t0,
    );
    v.evaluate(&s, t0, SystemTime::now());
    assert_eq!(keys(&v), vec!["y", "z"], "max_keys = 2, hottest first");
    // The node stops reporting: its rates drop out of the sum after the ttl.
    let later = t0 + Duration::from_secs(2);
    v.evaluate(&s, later, SystemTime::now());
    assert_eq!(v.nodes(), 0);
    assert_eq!(v.hot()["y"].rate, 0.0);
}

#[test]
fn the_hottest_keys_are_flagged_for_edge_serving() {
    let t0 = Instant::now();
    let s = HotSpec {
        max_keys: 3,
        edge: Some(FirstHopSpec {
            max_keys: 1,
            ..FirstHopSpec::default()
        }),
        ..spec()
    };
    let mut v = View::new(Duration::from_secs(1));
    v.receive(report("a", 2000.0, &[("x", 300.0), ("y", 500.0)]), t0);
    v.evaluate(&s, t0, SystemTime::now());
    assert!(v.hot()["y"].edge);
    assert!(!v.hot()["x"].edge);
}
