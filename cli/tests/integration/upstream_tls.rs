//! TLS to upstreams (nginx `proxy_ssl_*`): a group with `tls` talks HTTPS to its servers,
//! verifies their certificate against a CA file (or the system's CAs) and the SNI name by
//! default, and refuses (502) a server it cannot verify.

use std::process::Command;

use crate::common::edge::Edge;

fn status(url: &str) -> String {
    let out = Command::new("curl")
        .args([
            "-s",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            url,
        ])
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn groups_verify_their_tls_servers_by_default() {
    // The TLS origin: an edgeproxy answering itself, with a certificate for origin.test.
    let origin_port = 0;
    let dir = tempfile::tempdir().expect("tempdir");
    crate::common::certs::write_pair(dir.path(), "o", &["origin.test"], 30);
    let ca = dir.path().join("o.crt").display().to_string();
    let origin_cfg = format!(
        r#"
[[servers]]
listen = [{{ addr = "127.0.0.1:{origin_port}", tls = {{ certificates = [{{ cert = "o.crt", key = "o.key" }}] }} }}]
[[servers.routes]]
path_prefix = "/"
plugins = [{{ name = "respond", config = {{ status = 200, body = "secure origin\n" }} }}]
"#
    );
    let origin = Edge::start_in(dir, "edgeproxy", &origin_cfg);
    let origin_port = origin.addr().port();

    let port = 0;
    let group = |name: &str, tls: &str| {
        format!("[upstreams.{name}]\nservers = [{{ addr = \"127.0.0.1:{origin_port}\" }}]\ntls = {tls}\nretries = 0\n")
    };
    let route = |name: &str| {
        format!("[[servers.routes]]\npath_prefix = \"/{name}\"\nupstream = \"{name}\"\n")
    };
    let groups = [
        (
            "verified",
            format!(r#"{{ sni = "origin.test", ca_file = "{ca}" }}"#),
        ),
        (
            "wrongname",
            format!(r#"{{ sni = "other.test", ca_file = "{ca}" }}"#),
        ),
        ("systemca", r#"{ sni = "origin.test" }"#.to_string()),
        ("unverified", r#"{ verify = false }"#.to_string()),
        ("plain", "false".to_string()),
    ];
    let mut cfg = String::new();
    for (name, tls) in &groups {
        cfg.push_str(&group(name, tls));
    }
    cfg.push_str(&format!("[[servers]]\nlisten = [\"127.0.0.1:{port}\"]\n"));
    for (name, _) in &groups {
        cfg.push_str(&route(name));
    }
    let edge = Edge::start(&cfg);
    let port = edge.addr().port();
    let get = |path: &str| status(&format!("http://127.0.0.1:{port}/{path}"));
    assert_eq!(get("verified"), "200", "{}", edge.stderr());
    assert_eq!(get("unverified"), "200");
    assert_eq!(get("wrongname"), "502", "the name is checked");
    assert_eq!(
        get("systemca"),
        "502",
        "a self-signed origin is not in the system's CAs"
    );
    assert_eq!(get("plain"), "502", "plain HTTP to a TLS port fails");
}

#[test]
fn an_unreadable_ca_file_is_a_config_error_at_its_key() {
    let checked = crate::common::edge::check_text(
        r#"[upstreams.o]
servers = [{ addr = "127.0.0.1:9" }]
tls = { ca_file = "/nonexistent/ca.pem" }

[[servers]]
listen = ["127.0.0.1:18080"]
[[servers.routes]]
path_prefix = "/"
upstream = "o"
"#,
    );
    assert_eq!(checked.code, Some(1));
    assert!(
        checked
            .stderr
            .contains("bad.toml:3:19: error: upstream `o`: cannot read /nonexistent/ca.pem"),
        "{}",
        checked.stderr
    );
}
