//! Active health checks end to end: an origin whose `/health` answers 500 is taken out after
//! `fall` checks and back after `rise`; a TCP check takes out a peer that stopped listening.
//! Also: `health_check` config mistakes are all reported by `-t` with line and column.

use std::time::Duration;

use crate::common::dist::{servers_line, Client, DistConfig};
use crate::common::edge::{check_text, Edge};
use crate::common::origin::Origin;
use crate::common::wait_until;

const BOUND: Duration = Duration::from_secs(10);

fn checked_edge(addrs: &[std::net::SocketAddr], hc: &str) -> (Edge, Client) {
    let cfg = DistConfig::new()
        .group(&servers_line(addrs))
        .group("max_fails = 0")
        .group("connect_timeout = \"500ms\"")
        .group(&format!("health_check = {{ {hc} }}"));
    let edge = Edge::start(&cfg.render());
    let client = Client::new(edge.addr());
    (edge, client)
}

/// Requests `origin` served outside `/health`.
fn traffic(origin: &Origin) -> usize {
    origin
        .seen()
        .iter()
        .filter(|s| s.target != "/health")
        .count()
}

#[test]
fn http_check_takes_out_after_fall_and_back_after_rise() {
    let (a, b) = (Origin::start(), Origin::start());
    let (edge, client) = checked_edge(
        &[a.addr, b.addr],
        r#"kind = "http", path = "/health", expect_status = 200, interval = "100ms", timeout = "500ms", rise = 2, fall = 3"#,
    );
    let ports = client.ports("/", 10);
    assert!(ports.contains(&a.addr.port()) && ports.contains(&b.addr.port()));
    wait_until("a health check", BOUND, || {
        a.seen().iter().any(|s| s.target == "/health")
    })
    .unwrap();

    a.set_route("/health", 500, "sick\n");
    assert!(
        client.until_avoids(a.addr.port(), 20, BOUND),
        "sick origin never taken out\n{}",
        edge.stderr()
    );
    let before = traffic(&a);
    let ports = client.ports("/", 50);
    assert!(ports.iter().all(|&p| p == b.addr.port()));
    assert_eq!(traffic(&a), before, "a checked-down origin got requests");
    assert!(edge
        .stderr()
        .contains("down after 3 failed health check(s): GET /health answered 500, expected 200"));

    a.set_route("/health", 200, "ok\n");
    assert!(
        client.time_until_routed_to(a.addr.port(), BOUND).is_some(),
        "recovered origin never back\n{}",
        edge.stderr()
    );
    assert!(edge
        .stderr()
        .contains("up again after 2 passed health check(s)"));
}

#[test]
fn tcp_check_takes_out_a_peer_that_stopped_listening() {
    let a = Origin::start();
    let b = Origin::start();
    let (edge, client) = checked_edge(
        &[a.addr, b.addr],
        r#"kind = "tcp", interval = "100ms", timeout = "500ms", fall = 2"#,
    );
    let b_port = b.addr.port();
    assert!(client.time_until_routed_to(b_port, BOUND).is_some());
    drop(b);
    wait_until("the closed port checked down", BOUND, || {
        edge.stderr()
            .contains("down after 2 failed health check(s): connect")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
    // With max_fails = 0 passive health never takes it out: only the check keeps requests
    // from trying it, so no new connect failures may appear.
    let failures = || edge.stderr().matches("connect failed").count();
    let before = failures();
    let ports = client.ports("/", 30);
    assert!(ports.iter().all(|&p| p == a.addr.port()));
    assert_eq!(
        failures(),
        before,
        "requests still tried the checked-down peer"
    );
}

#[test]
fn health_check_mistakes_are_all_reported() {
    let text = r#"[upstreams.a]
servers = [{ addr = "127.0.0.1:9001" }]
health_check = { kind = "tcp", path = "/h", intervall = "1s" }

[upstreams.b]
servers = [{ addr = "127.0.0.1:9002" }]
health_check = { kind = "icmp", fall = 0, timeout = "0s" }

[upstreams.c]
servers = [{ addr = "127.0.0.1:9003" }]
health_check = { kind = "http", path = "health", expect_status = 200 }
"#;
    let out = check_text(text);
    assert_eq!(out.code, Some(1));
    let (err, p) = (&out.stderr, out.path.display());
    for want in [
        format!(
            "{p}:3:32: error: upstream `a` health_check: `path` only applies to kind = \"http\""
        ),
        format!("{p}:3:45: error: unknown key `intervall` in upstream `a` health_check"),
        "did you mean `interval`?".to_string(),
        format!("{p}:7:25: error: upstream `b` health_check: unknown kind `icmp`"),
        format!("{p}:7:40: error: `fall` = 0 is out of range 1..=100"),
        format!("{p}:7:43: error: upstream `b` health_check: `timeout` must be at least 10ms"),
        format!("{p}:11:40: error: upstream `c` health_check: path \"health\" must start with `/`"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
}
