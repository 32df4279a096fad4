//! Headers a client could forge past authentication, through the real binary over raw
//! sockets: underscore and case variants of a verified claim header never reach the
//! origin (nginx's `underscores_in_headers off`), `Connection` cannot strip the verified
//! header, a request carries one credential or gets 400, `key-auth` names the consumer
//! (`$consumer` in the access log) and `hide_credentials` keeps credentials from the
//! origin.
//!
//! The token is the fixed HS256 one of gateway_jwt_auth.rs (`sub` = `user-42`).

use std::net::SocketAddr;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::raw_request;

const SECRET: &str = "integration-test-secret-0123456789abcdef";
const TOKEN: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiZWRnZS10ZXN0IiwiZXhwIjo0MTAyNDQ0ODAwfQ.AzKNvsKL6gEDTAAnA2vfCmi-bAi-uQ3yhMWeEj3iBgo";

fn setup() -> (SocketAddr, Origin, Edge) {
    let origin = Origin::start();
    let listen = ANY_PORT;
    let cfg = format!(
        r#"
[upstreams.app]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = ["{listen}"]
plugins = [{{ name = "access-log", config = {{ path = "{{dir}}/access.log", format = "$uri $consumer $status" }} }}]

[[servers.routes]]
path_prefix = "/jwt"
upstream = "app"
plugins = [
  {{ name = "jwt-auth", config = {{ algorithms = ["HS256"], secret_env = "EDGEPROXY_TEST_JWT_SECRET", token_sources = ["bearer", "query:access_token"], claims_to_headers = {{ sub = "x-user-id" }} }} }},
]

[[servers.routes]]
path_prefix = "/hidden"
upstream = "app"
plugins = [
  {{ name = "jwt-auth", config = {{ algorithms = ["HS256"], secret_env = "EDGEPROXY_TEST_JWT_SECRET", hide_credentials = true }} }},
]

[[servers.routes]]
path_prefix = "/key"
upstream = "app"
plugins = [{{ name = "key-auth", config = {{ keys_env = "EDGEPROXY_TEST_KEYS", hide_credentials = true }} }}]
"#,
        origin = origin.addr
    );
    let env = [
        ("EDGEPROXY_TEST_JWT_SECRET", SECRET),
        (
            "EDGEPROXY_TEST_KEYS",
            "alice:ka-0123456789,bob:kb-0123456789",
        ),
    ];
    let edge = Edge::start_with(&cfg, &env);
    (edge.addr(), origin, edge)
}

fn send(listen: SocketAddr, target: &str, headers: &[&str]) -> u16 {
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for h in headers {
        req.push_str(h);
        req.push_str("\r\n");
    }
    req.push_str("\r\n");
    let resp = raw_request(listen, req.as_bytes());
    resp.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0)
}

#[test]
fn verified_headers_cannot_be_forged_stripped_or_doubled() {
    let (listen, origin, _edge) = setup();
    let bearer = format!("Authorization: Bearer {TOKEN}");
    // Underscore and case variants of the verified header: dropped.
    let status = send(
        listen,
        "/jwt/a",
        &[
            &bearer,
            "X_User_Id: admin",
            "X-User_Id: admin",
            "x-USER-ID: admin",
            "X.User.Id: admin",
        ],
    );
    assert_eq!(status, 200);
    let seen = origin.seen();
    let user: Vec<_> = seen[0]
        .header_lines
        .iter()
        .filter(|(n, _)| n.contains("user"))
        .collect();
    assert_eq!(user, [&("x-user-id".to_string(), "user-42".to_string())]);
    // `Connection` naming it, more than one credential: 400, never proxied.
    let forged = "Authorization: Bearer forged.forged.forged";
    let query = format!("/jwt/b?access_token={TOKEN}");
    let twice = format!("/jwt/b?access_token={TOKEN}&access_token=forged");
    for (target, headers) in [
        ("/jwt/b", vec![bearer.as_str(), "Connection: x-user-id"]),
        ("/jwt/b", vec![bearer.as_str(), "Connection: X_User_Id"]),
        ("/jwt/b", vec![bearer.as_str(), forged]),
        ("/jwt/b", vec![bearer.as_str(), bearer.as_str()]),
        (query.as_str(), vec![bearer.as_str()]),
        (twice.as_str(), vec![]),
        (
            "/key/b",
            vec!["X-Api-Key: ka-0123456789", "X-Api-Key: forged"],
        ),
    ] {
        assert_eq!(send(listen, target, &headers), 400, "{target} {headers:?}");
    }
    assert_eq!(origin.hits_for("/jwt/b"), 0);
    assert_eq!(origin.hits_for("/key/b"), 0);
    // One credential passes; hide_credentials keeps it from the origin.
    assert_eq!(send(listen, &query, &[]), 200);
    assert_eq!(send(listen, "/hidden/c", &[&bearer]), 200);
    assert_eq!(send(listen, "/key/d", &["X-Api-Key: kb-0123456789"]), 200);
    for r in origin.seen().iter().skip(2) {
        let names: Vec<_> = r.header_lines.iter().map(|(n, _)| n.as_str()).collect();
        assert!(!names.contains(&"authorization"), "{}: {names:?}", r.target);
        assert!(!names.contains(&"x-api-key"), "{}: {names:?}", r.target);
    }
}

#[test]
fn key_auth_names_the_consumer() {
    let (listen, _origin, edge) = setup();
    assert_eq!(send(listen, "/key/one", &["X-Api-Key: ka-0123456789"]), 200);
    assert_eq!(send(listen, "/key/two", &["X-Api-Key: kb-0123456789"]), 200);
    let log = edge.path("access.log");
    crate::common::wait_until(
        "two access log lines",
        std::time::Duration::from_secs(5),
        || std::fs::read_to_string(&log).is_ok_and(|l| l.lines().count() >= 2),
    )
    .expect("access log written");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("/key/one alice 200"), "{text}");
    assert!(text.contains("/key/two bob 200"), "{text}");
}
