//! What a gRPC client sees when the proxy itself answers (docs/grpc.md): plugin refusals
//! (rate-limit, key-auth, ip-restriction), no route, no live upstream and a passed
//! `grpc-timeout` all arrive as gRPC statuses (HTTP 200 + `grpc-status`, trailers-only),
//! never as an error page; calls and their `grpc-status` reach the access log and metrics.

use std::process::Command;
use std::time::Duration;

use crate::common::edge::Edge;
use crate::common::grpc::{call, GrpcServer};
use crate::common::scrape::metric;
use crate::common::wait_until;

/// A block on h2c with one route per host: `limited` (1 call, then rate-limited), `keyed`
/// (key-auth), `denied` (ip-restriction), `dead` (no live upstream), and any other host
/// name but `nothing` to the live server; an access log of `$host $status $grpc_status`.
fn edge(server: &GrpcServer, dead: u16) -> Edge {
    let route = |host: &str, upstream: &str, plugin: &str| {
        format!(
            "[[servers.routes]]\nname = \"{host}\"\nhosts = [\"{host}\"]\npath_prefix = \"/test.Echo/\"\nupstream = \"{upstream}\"\nplugins = [{plugin}]\n"
        )
    };
    let cfg = format!(
        r#"
[upstreams.live]
servers = [{{ addr = "{live}" }}]
protocol = "h2c"
[upstreams.dead]
servers = [{{ addr = "127.0.0.1:{dead}" }}]
protocol = "h2c"
retries = 0
[[servers]]
name = "grpc"
listen = [{{ addr = "127.0.0.1:0", http2 = true }}]
plugins = [{{ name = "access-log", config = {{ path = "access.log", format = "$host $status $grpc_status" }} }}]
{limited}{keyed}{denied}{dead_route}
[[servers.routes]]
name = "live"
hosts = ["live"]
path_prefix = "/"
upstream = "live"
[[servers]]
name = "admin"
listen = ["127.0.0.1:0"]
[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]
"#,
        live = server.addr(),
        limited = route(
            "limited",
            "live",
            r#"{ name = "rate-limit", config = { rule = "g", limit = 1, window = "1h" } }"#
        ),
        keyed = route(
            "keyed",
            "live",
            r#"{ name = "key-auth", config = { keys_env = "GRPC_TEST_KEYS" } }"#
        ),
        denied = route(
            "denied",
            "live",
            r#"{ name = "ip-restriction", config = { deny = ["127.0.0.0/8"] } }"#
        ),
        dead_route = route("dead", "dead", ""),
    );
    Edge::start_with(&cfg, &[("GRPC_TEST_KEYS", "alice:ka-0123456789")])
}

#[test]
fn proxy_answers_and_plugin_refusals_are_grpc_statuses() {
    let server = GrpcServer::start("a");
    let dead = crate::common::free_port();
    let edge = edge(&server, dead);
    let target = edge.addr().to_string();
    let status = |host: &str, md: &[&str]| call(&target, "status", host, md);

    assert_eq!(status("live", &[])["code"], "OK");
    assert_eq!(status("limited", &[])["code"], "OK");
    let limited = status("limited", &[]);
    assert_eq!(limited["code"], "RESOURCE_EXHAUSTED", "{limited}");
    assert!(
        limited["details"].as_str().unwrap().contains("429"),
        "{limited}"
    );
    assert_eq!(status("keyed", &[])["code"], "UNAUTHENTICATED");
    assert_eq!(status("keyed", &["x-api-key=ka-0123456789"])["code"], "OK");
    assert_eq!(status("denied", &[])["code"], "PERMISSION_DENIED");
    assert_eq!(status("dead", &[])["code"], "UNAVAILABLE");
    assert_eq!(status("nothing", &[])["code"], "UNIMPLEMENTED");
    // The upstream's own error status and metadata, through the proxy.
    let error = call(&target, "error", "live", &[]);
    assert_eq!(error["code"], "FAILED_PRECONDITION", "{error}");
    assert_eq!(error["trailers"]["x-reason"], "because");

    let log = || std::fs::read_to_string(edge.path("access.log")).unwrap_or_default();
    wait_until(
        "every call in the access log",
        Duration::from_secs(10),
        || log().lines().count() >= 9,
    )
    .unwrap();
    let log = log();
    for line in [
        "live 200 0",
        "limited 200 8",
        "keyed 200 16",
        "denied 200 7",
        "dead 200 14",
        "nothing 200 12",
        "live 200 9",
    ] {
        assert!(log.lines().any(|l| l == line), "{line}:\n{log}");
    }
    let admin = edge.addrs()[1];
    let series = |route: &str, code: &str| {
        let s = format!(
            "edgeproxy_grpc_responses_total{{grpc_status=\"{code}\",route=\"{route}\",server=\"grpc\"}}"
        );
        metric(admin, &s)
    };
    assert_eq!(series("live", "0"), Some(1.0));
    assert_eq!(series("live", "9"), Some(1.0));
    assert_eq!(series("limited", "8"), Some(1.0));
    assert_eq!(series("dead", "14"), Some(1.0));
}

#[test]
fn grpc_timeout_is_a_deadline_the_proxy_keeps() {
    // curl enforces no deadline of its own: what ends the call is the proxy.
    let server = GrpcServer::start("a");
    let edge = edge(&server, crate::common::free_port());
    let dir = tempfile::tempdir().unwrap();
    let msg = dir.path().join("msg");
    // One gRPC message: uncompressed, length 1, "5" (the server sleeps 5 s).
    std::fs::write(&msg, b"\x00\x00\x00\x00\x015").unwrap();
    let out = Command::new("curl")
        .args([
            "-s",
            "-D",
            "-",
            "-o",
            "/dev/null",
            "--http2-prior-knowledge",
        ])
        .args(["--max-time", "20", "-H", "host: live"])
        .args(["-H", "content-type: application/grpc", "-H", "te: trailers"])
        .args(["-H", "grpc-timeout: 300m", "--data-binary"])
        .arg(format!("@{}", msg.display()))
        .arg(format!("http://{}/test.Echo/Slow", edge.addr()))
        .output()
        .expect("curl");
    let head = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(head.starts_with("http/2 200"), "{head}");
    assert!(head.contains("grpc-status: 4\r\n"), "{head}");
    assert!(head.contains("content-type: application/grpc"), "{head}");
}
