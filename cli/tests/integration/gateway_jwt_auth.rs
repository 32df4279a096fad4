//! `jwt-auth` through the real binary: a valid HS256 token is proxied with the subject in
//! `x-user-id` (a client's own `x-user-id` dropped); a forged one, an `alg: none` one and a
//! missing one get 401 with an RFC 6750 challenge, and never reach the origin.
//!
//! The tokens are fixed (HS256 over the secret below, `exp` in 2100), made with Python's
//! `hmac`, so this test needs no JWT library.

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;

const SECRET: &str = "integration-test-secret-0123456789abcdef";
const HEAD: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
/// `{"sub":"user-42","iss":"edge-test","exp":4102444800}`
const CLAIMS: &str = "eyJzdWIiOiJ1c2VyLTQyIiwiaXNzIjoiZWRnZS10ZXN0IiwiZXhwIjo0MTAyNDQ0ODAwfQ";
const GOOD_SIG: &str = "AzKNvsKL6gEDTAAnA2vfCmi-bAi-uQ3yhMWeEj3iBgo";
/// The same header and claims signed with another secret.
const FORGED_SIG: &str = "ta76dWfFJ1eryNw0DHip1cnYW6SuZlLZ5m2Rbprj920";
/// `{"alg":"none","typ":"JWT"}`
const NONE_HEAD: &str = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0";

#[test]
fn valid_token_is_proxied_and_forged_ones_get_401() {
    let origin = Origin::start();
    let listen = ANY_PORT;
    let cfg = format!(
        r#"
[upstreams.app]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = ["{listen}"]

[[servers.routes]]
path_prefix = "/"
upstream = "app"
plugins = [
  {{ name = "jwt-auth", config = {{ algorithms = ["HS256"], secret_env = "EDGEPROXY_TEST_JWT_SECRET", issuer = "edge-test", realm = "api", claims_to_headers = {{ sub = "x-user-id" }} }} }},
]
"#,
        origin = origin.addr
    );
    let edge = Edge::start_with(&cfg, &[("EDGEPROXY_TEST_JWT_SECRET", SECRET)]);
    let listen = edge.addr();
    let client = crate::common::client();
    let get = |token: Option<String>| {
        let mut r = client
            .get(format!("http://{listen}/orders"))
            .header("x-user-id", "admin");
        if let Some(t) = token {
            r = r.header("authorization", format!("Bearer {t}"));
        }
        r.send().unwrap()
    };

    let ok = get(Some(format!("{HEAD}.{CLAIMS}.{GOOD_SIG}")));
    assert_eq!(ok.status(), 200);
    let seen = origin.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].headers.get("x-user-id").map(String::as_str),
        Some("user-42")
    );
    let user_ids = seen[0]
        .header_lines
        .iter()
        .filter(|(n, _)| n == "x-user-id")
        .count();
    assert_eq!(user_ids, 1, "the client's x-user-id is dropped");

    for (token, description) in [
        (format!("{HEAD}.{CLAIMS}.{FORGED_SIG}"), "invalid signature"),
        (format!("{NONE_HEAD}.{CLAIMS}."), "algorithm not allowed"),
        ("not-a-jwt".to_string(), "malformed token"),
    ] {
        let r = get(Some(token.clone()));
        assert_eq!(r.status(), 401, "{token}");
        let challenge = r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_string();
        assert_eq!(
            challenge,
            format!("Bearer realm=\"api\", error=\"invalid_token\", error_description=\"{description}\"")
        );
        assert!(!r.text().unwrap().contains(&token));
    }
    let r = get(None);
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer realm=\"api\"");
    assert_eq!(origin.hits(), 1, "refused requests never reach the origin");
}
