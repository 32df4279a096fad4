//! HTTP → HTTPS through the real binary: the `redirect` plugin keeps host, path and query
//! (301 by default, 308 and a port on request), HSTS through `response-headers` appears on
//! the answers; a `location` template (nginx's `return`) reads the same variables as the
//! access log; and `edgeproxy -t` reports mistakes in `redirect`, `compression` and
//! `real_ip` at their line and column.

use crate::common::curl::curl;
use crate::common::edge::{check_text, Edge, ANY_PORT};

const HSTS: &str = "max-age=63072000; includeSubDomains";

#[test]
fn plain_http_is_redirected_keeping_host_path_and_query() {
    let (listen, other) = (ANY_PORT, ANY_PORT);
    let config = format!(
        r#"
[[servers]]
listen = ["{listen}"]
plugins = [{{ name = "response-headers", config = {{ set = {{ "strict-transport-security" = "{HSTS}" }} }} }}]

[[servers.routes]]
path_prefix = "/api/"
plugins = [{{ name = "redirect", config = {{ status = 308, port = 8443 }} }}]

[[servers.routes]]
path = "/health"
plugins = [{{ name = "respond", config = {{ body = "ok" }} }}]

[[servers.routes]]
plugins = [{{ name = "redirect" }}]

[[servers]]
listen = ["{other}"]
plugins = [{{ name = "redirect", config = {{ host = "www.example.com" }} }}]
[[servers.routes]]
plugins = [{{ name = "respond", config = {{ body = "never" }} }}]
"#
    );
    let edge = Edge::start(&config);
    let [listen, other] = edge.listening();
    let url = |p: &str| format!("http://{listen}{p}");

    let r = curl(
        &["--path-as-is", "-H", "Host: Shop.Example.com"],
        &url("/a/./b//c?x=1&y=%20z"),
    );
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://shop.example.com/a/b/c?x=1&y=%20z")
    );
    assert_eq!(r.header("strict-transport-security"), Some(HSTS));

    let r = curl(
        &[
            "-X",
            "POST",
            "-d",
            "x=1",
            "-H",
            "Host: shop.example.com:8080",
        ],
        &url("/api/v1/items?page=2"),
    );
    assert_eq!(r.status, 308);
    assert_eq!(
        r.header("location"),
        Some("https://shop.example.com:8443/api/v1/items?page=2")
    );

    let r = curl(&[], &url("/health"));
    assert_eq!((r.status, r.text().as_str()), (200, "ok"));
    assert_eq!(r.header("strict-transport-security"), Some(HSTS));

    // Server-level redirect to a canonical host.
    let r = curl(&["-H", "Host: example.com"], &format!("http://{other}/p?q"));
    assert_eq!(r.status, 301);
    assert_eq!(r.header("location"), Some("https://www.example.com/p?q"));
}

#[test]
fn edge_settings_errors_point_at_the_value() {
    let c = check_text(
        r#"[[servers]]
listen = ["127.0.0.1:18080"]
compression = { algorithms = ["gzip", "deflate"], gzip_level = 12, types = ["text/html; charset=utf-8"] }
real_ip = { from = ["10.0.0.1/8", "bogus"], header = "X Forwarded For" }

[[servers.routes]]
compression = "yes"

[[servers.routes]]
path = "/b"
real_ip = { from = [] }

[[servers]]
listen = ["127.0.0.1:18081"]
real_ip = { recursive = true }
[[servers.routes]]
"#,
    );
    assert_eq!(c.code, Some(1), "{}", c.stderr);
    let f = c.path.display().to_string();
    for (at, what) in [
        ("3:39", "unknown compression algorithm \"deflate\""),
        ("3:64", "`gzip_level` = 12 is out of range 1..=9"),
        ("3:77", "invalid media type"),
        ("4:21", "did you mean `10.0.0.0/8`"),
        ("4:35", "invalid CIDR `bogus`"),
        ("4:54", "is not a header name"),
        ("7:15", "`compression` must be true, false or a table"),
        ("11:1", "unknown key `real_ip` in route"),
        ("15:11", "`real_ip` needs `from`"),
    ] {
        let want = format!("{f}:{at}: error: ");
        let line = c
            .stderr
            .lines()
            .find(|l| l.starts_with(&want))
            .unwrap_or_else(|| panic!("no error at {at}:\n{}", c.stderr));
        assert!(line.contains(what), "{line}");
    }
}

#[test]
fn redirect_config_errors_point_at_the_plugin() {
    let c = check_text(
        r#"[[servers]]
listen = ["127.0.0.1:18080"]
[[servers.routes]]
plugins = [{ name = "redirect", config = { status = 200 } }]
"#,
    );
    assert_eq!(c.code, Some(1), "{}", c.stderr);
    let want = format!("{}:4:", c.path.display());
    assert!(
        c.stderr.lines().any(|l| l.starts_with(&want)
            && l.contains("`status` must be 301, 302, 303, 307 or 308, not 200")),
        "{}",
        c.stderr
    );
}

/// One template engine: the `location` of `redirect` and the access log read `$host` and
/// `$request_uri` the same way (lower-cased without port; the target as received), and a
/// mistake in a template is a `-t` error at its position.
#[test]
fn a_location_template_and_the_log_read_the_same_variables() {
    let config = format!(
        r#"
[[servers]]
listen = ["{ANY_PORT}"]
plugins = [{{ name = "access-log", config = {{ path = "{{dir}}/access.log", format = "$host $request_uri $status" }} }}]
[[servers.routes]]
plugins = [{{ name = "redirect", config = {{ status = 302, location = "https://$host:8443$request_uri" }} }}]
"#
    );
    let edge = Edge::start(&config);
    let url = format!("http://{}/a/./b?x=%20", edge.addr());
    let r = curl(&["--path-as-is", "-H", "Host: Shop.Example.com:8080"], &url);
    assert_eq!(r.status, 302);
    assert_eq!(
        r.header("location"),
        Some("https://shop.example.com:8443/a/./b?x=%20")
    );
    let log = edge.path("access.log");
    crate::common::wait_until("the log line", std::time::Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.ends_with('\n'))
    })
    .unwrap();
    let line = std::fs::read_to_string(&log).unwrap();
    assert_eq!(line, "shop.example.com /a/./b?x=%20 302\n");

    let c = check_text(&config.replace("$request_uri\" }", "$request_url\" }"));
    assert_eq!(c.code, Some(1), "{}", c.stderr);
    let want = format!("{}:6:", c.path.display());
    assert!(
        c.stderr
            .lines()
            .any(|l| l.starts_with(&want)
                && l.contains("`location`: unknown variable `$request_url`")),
        "{}",
        c.stderr
    );
}
