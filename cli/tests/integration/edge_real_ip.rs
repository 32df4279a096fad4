//! `real_ip` (nginx realip) through the real binary. Loopback gives several peers: 127.0.0.1
//! and ::1 are trusted proxies, 127.0.0.2 is not. What is checked: a client outside the
//! trusted ranges cannot spoof its address; recursive and non-recursive
//! `X-Forwarded-For`; `X-Real-IP`; IPv6; invalid values keep the peer; and everything sees
//! the result: the access log (`$remote_addr`, `$realip_remote_addr`), the headers sent
//! upstream, `ip-restriction`, and the hash key `$remote_addr`.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::{get_from, wait_until};

struct Env {
    recursive: SocketAddr,
    recursive_v6: SocketAddr,
    rightmost: SocketAddr,
    real_ip_header: SocketAddr,
    origins: (Origin, Origin),
    edge: Edge,
}

fn setup() -> Env {
    let origins = (Origin::start(), Origin::start());
    let (recursive, rightmost, real_ip_header) = (ANY_PORT, ANY_PORT, ANY_PORT);
    let recursive_v6: SocketAddr = "[::1]:0".parse().unwrap();
    let log = |name: &str| {
        format!(
            r#"{{ name = "access-log", config = {{ path = "{{dir}}/{name}.log", format = "$remote_addr:$remote_port $realip_remote_addr $status" }} }}"#
        )
    };
    let config = format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{a}" }}, {{ addr = "{b}" }}]
balance = "hash"
hash_key = "$remote_addr"

[[servers]]
name = "recursive"
listen = ["{recursive}", "{recursive_v6}"]
real_ip = {{ from = ["127.0.0.1", "::1", "10.0.0.0/8", "2001:db8::/32"], header = "X-Forwarded-For", recursive = true }}
plugins = [{log_r}]
[[servers.routes]]
path = "/office"
plugins = [
  {{ name = "ip-restriction", config = {{ allow = ["192.0.2.0/24"] }} }},
  {{ name = "respond", config = {{ body = "welcome" }} }},
]
[[servers.routes]]
upstream = "origin"

[[servers]]
name = "rightmost"
listen = ["{rightmost}"]
real_ip = {{ from = ["127.0.0.1", "10.0.0.0/8"], header = "x-forwarded-for" }}
plugins = [{log_n}]
[[servers.routes]]
upstream = "origin"

[[servers]]
name = "x-real-ip"
listen = ["{real_ip_header}"]
real_ip = {{ from = ["127.0.0.1"] }}
plugins = [{log_x}]
[[servers.routes]]
upstream = "origin"
"#,
        a = origins.0.addr,
        b = origins.1.addr,
        log_r = log("recursive"),
        log_n = log("rightmost"),
        log_x = log("x-real-ip"),
    );
    let edge = Edge::start(&config);
    let [recursive, recursive_v6, rightmost, real_ip_header] = edge.listening();
    Env {
        recursive,
        recursive_v6,
        rightmost,
        real_ip_header,
        origins,
        edge,
    }
}

const ONE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1));
const TWO: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
const V6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);

impl Env {
    /// The last line of `name.log`, once it has `n` lines.
    fn log_line(&self, name: &str, n: usize) -> String {
        let path = self.edge.path(&format!("{name}.log"));
        let lines = || -> Vec<String> {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            text.lines().map(String::from).collect()
        };
        wait_until("the access log line", Duration::from_secs(5), || {
            lines().len() >= n
        })
        .unwrap();
        lines()[n - 1].clone()
    }

    /// The forwarding headers of the last request an origin received.
    fn forwarded(&self) -> (String, String) {
        let mut seen = self.origins.0.seen();
        seen.extend(self.origins.1.seen());
        let last = seen
            .iter()
            .max_by_key(|r| r.headers.get("x-request-id").cloned())
            .expect("a request upstream")
            .clone();
        let h = |n: &str| last.headers.get(n).cloned().unwrap_or_default();
        (h("x-forwarded-for"), h("x-real-ip"))
    }
}

#[test]
fn untrusted_clients_cannot_spoof_and_trusted_proxies_name_the_client() {
    let env = setup();
    let spoof = [("x-forwarded-for", "192.0.2.7"), ("x-real-ip", "192.0.2.7")];
    // 127.0.0.2 is no trusted proxy: its headers are ignored everywhere.
    assert_eq!(get_from(env.recursive, TWO, "/", &spoof).0, 200);
    let line = env.log_line("recursive", 1);
    assert!(
        line.starts_with("127.0.0.2:") && line.ends_with(" 127.0.0.2 200"),
        "{line}"
    );
    assert_eq!(
        env.forwarded(),
        ("192.0.2.7, 127.0.0.2".into(), "127.0.0.2".into())
    );
    assert_eq!(get_from(env.recursive, TWO, "/office", &spoof).0, 403);

    // A trusted proxy: the rightmost untrusted entry, trusted hops (10.x) skipped.
    let chain = [(
        "x-forwarded-for",
        "198.51.100.1, 192.0.2.7:4711, 10.1.1.1, 10.2.2.2",
    )];
    assert_eq!(get_from(env.recursive, ONE, "/", &chain).0, 200);
    assert_eq!(env.log_line("recursive", 3), "192.0.2.7:4711 127.0.0.1 200");
    let (xff, real) = env.forwarded();
    assert_eq!(
        xff,
        "198.51.100.1, 192.0.2.7:4711, 10.1.1.1, 10.2.2.2, 192.0.2.7"
    );
    assert_eq!(real, "192.0.2.7");
    assert_eq!(
        get_from(env.recursive, ONE, "/office", &chain),
        (200, "welcome".into())
    );

    // Not recursive: the rightmost entry, trusted or not.
    assert_eq!(get_from(env.rightmost, ONE, "/", &chain).0, 200);
    assert_eq!(env.log_line("rightmost", 1), "10.2.2.2:0 127.0.0.1 200");
    // Invalid values keep the peer.
    for bad in ["unknown", "192.0.2.300", ""] {
        get_from(env.rightmost, ONE, "/", &[("x-forwarded-for", bad)]);
    }
    for n in 2..=4 {
        assert!(env.log_line("rightmost", n).starts_with("127.0.0.1:"));
    }
}

#[test]
fn x_real_ip_and_ipv6() {
    let env = setup();
    get_from(
        env.real_ip_header,
        ONE,
        "/",
        &[
            ("x-real-ip", "198.51.100.3"),
            ("x-forwarded-for", "192.0.2.1"),
        ],
    );
    assert_eq!(env.log_line("x-real-ip", 1), "198.51.100.3:0 127.0.0.1 200");
    assert_eq!(env.forwarded().1, "198.51.100.3");
    get_from(env.real_ip_header, ONE, "/", &[("x-real-ip", "not-an-ip")]);
    assert!(env.log_line("x-real-ip", 2).starts_with("127.0.0.1:"));
    get_from(
        env.real_ip_header,
        TWO,
        "/",
        &[("x-real-ip", "198.51.100.3")],
    );
    assert!(env.log_line("x-real-ip", 3).starts_with("127.0.0.2:"));

    // An IPv6 peer (::1, trusted) and IPv6 entries; 2001:db8::/32 is trusted too.
    let h = [("x-forwarded-for", "2001:db9::5, [2001:db8::1]:80")];
    get_from(env.recursive_v6, V6, "/", &h);
    assert_eq!(env.log_line("recursive", 1), "2001:db9::5:0 ::1 200");
    assert_eq!(env.forwarded().1, "2001:db9::5");
}

#[test]
fn hash_keys_see_the_real_address() {
    let env = setup();
    let origin_of = |from: IpAddr, client: &str| -> String {
        let (status, body) = get_from(env.recursive, from, "/", &[("x-forwarded-for", client)]);
        assert_eq!(status, 200);
        body.split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    // Behind the trusted proxy, each client keeps its origin and clients spread over both.
    let mut used = BTreeSet::new();
    for i in 1..=24 {
        let client = format!("192.0.2.{i}");
        let first = origin_of(ONE, &client);
        assert_eq!(origin_of(ONE, &client), first, "{client}");
        used.insert(first);
    }
    assert_eq!(used.len(), 2, "{used:?}");
    // A client spoofing from an untrusted address is hashed on its own address.
    let mut spoofed = BTreeSet::new();
    for i in 1..=24 {
        spoofed.insert(origin_of(TWO, &format!("192.0.2.{i}")));
    }
    assert_eq!(spoofed.len(), 1, "{spoofed:?}");
}
