//! `waf` through the real binary: attacks in the path, the query and a header get 403,
//! benign searches pass, `detect_only` lets the attack through and both are counted per
//! rule in /metrics; a bad pattern is a `-t` error at its position.

use std::net::SocketAddr;

use crate::common::client;
use crate::common::edge::{check_text, Edge, ANY_PORT};

fn config(listen: SocketAddr) -> String {
    format!(
        r#"
[[servers]]
listen = ["{listen}"]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]

[[servers.routes]]
path_prefix = "/watch"
plugins = [
  {{ name = "waf", config = {{ detect_only = true }} }},
  {{ name = "respond", config = {{ body = "ok" }} }},
]

[[servers.routes]]
path_prefix = "/"
plugins = [
  {{ name = "waf", config = {{ rules = [{{ id = "it-passwd", pattern = "(?i)/etc/passwd", targets = ["args"] }}] }} }},
  {{ name = "respond", config = {{ body = "ok" }} }},
]
"#
    )
}

#[test]
fn blocks_attacks_passes_benign_and_counts() {
    let edge = Edge::start(&config(ANY_PORT));
    let listen = edge.addr();
    let c = client();
    let get = |target: &str, ua: &str| {
        let r = c
            .get(format!("http://{listen}{target}"))
            .header("user-agent", ua)
            .send()
            .unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let ua = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)";

    for benign in [
        "/search?q=select+your+size",
        "/search?q=rock+'n'+roll",
        "/search?q=this%20or%20that",
        "/search?q=JavaScript%3A+The+Good+Parts",
    ] {
        assert_eq!(get(benign, ua), (200, "ok".into()), "{benign}");
    }
    for attack in [
        "/search?q=1%20UNION/**/SELECT%20password",
        "/search?q=1%2527%2520or%25201%253D1",
        "/search?q=%3CScRiPt%3Ealert(1)",
        "/go?url=java%09script:alert(1)",
        "/product/1%20union%20select%201",
        "/x/..//search?f=..%2F..%2Fetc%2Fpasswd",
    ] {
        let (status, body) = get(attack, ua);
        assert_eq!(status, 403, "{attack}: {body}");
        assert!(body.starts_with("403 Forbidden\nrequest id: "), "{body}");
    }
    assert_eq!(get("/", "' or 1=1--").0, 403, "user-agent is checked");

    assert_eq!(get("/watch?q=1+union+select+1", ua).0, 200, "detect_only");
    let metrics = get("/metrics", ua).1;
    for line in [
        r#"edgeproxy_waf_matches_total{action="block",rule="sqli-union-select"} 2"#,
        r#"edgeproxy_waf_matches_total{action="log",rule="sqli-union-select"} 1"#,
        r#"edgeproxy_waf_matches_total{action="block",rule="it-passwd"} 1"#,
        r#"edgeproxy_waf_matches_total{action="block",rule="xss-javascript-uri"} 1"#,
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let stderr = edge.stderr();
    assert!(
        stderr.contains("waf: rule matched") && stderr.contains("rule=it-passwd"),
        "{stderr}"
    );
}

#[test]
fn a_bad_pattern_is_a_config_error_at_its_position() {
    let text = r#"[[servers]]
listen = ["127.0.0.1:1"]

[[servers.routes]]
path = "/"
plugins = [
  { name = "waf", config = { rules = [{ id = "x", pattern = "union(select" }] } },
]
"#;
    let checked = check_text(text);
    assert_eq!(checked.code, Some(1), "{}", checked.stderr);
    let at = format!(
        "{}:7:61: error: plugin `waf`: invalid pattern: unclosed group",
        checked.path.display()
    );
    assert!(checked.stderr.contains(&at), "{}", checked.stderr);
}
