//! `edgeproxy -t`: every shipped config validates; mistakes are all reported with FILE:LINE:COL.

use std::path::{Path, PathBuf};

use crate::common::edge::{check_text, check_with};

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            toml_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "toml") {
            out.push(p);
        }
    }
}

#[test]
fn every_config_in_conf_validates() {
    let mut files = Vec::new();
    toml_files(&crate::common::repo_path("conf"), &mut files);
    assert!(!files.is_empty(), "no configs found in conf/");
    // Secrets the example configs name (documented in each file's header).
    let env = [
        ("EDGEPROXY_API_KEYS", "example-key"),
        ("EDGEPROXY_ADMIN_TOKEN", "example-token"),
    ];
    for f in files {
        let out = check_with(&f, &env);
        assert!(
            out.status.success(),
            "{} failed -t:\n{}",
            f.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

const THREE_MISTAKES: &str = r#"[upstreams.app]
servers = [{ addr = "127.0.0.1:9001" }]
conect_timeout = "1s"

[[servers]]
listen = ["127.0.0.1:18080"]

[[servers.routes]]
path_prefix = "/"
upstream = "ap"

[[servers.routes]]
path_regex = "^/(unclosed"
"#;

#[test]
fn three_mistakes_are_all_reported_with_line_and_column() {
    let out = check_text(THREE_MISTAKES);
    assert_eq!(out.code, Some(1));
    let (err, p) = (&out.stderr, out.path.display());
    assert!(
        err.contains(&format!("{p}:3:1: error: unknown key `conect_timeout`")),
        "{err}"
    );
    assert!(err.contains("did you mean `connect_timeout`?"), "{err}");
    assert!(
        err.contains(&format!("{p}:10:12: error: undefined upstream `ap`")),
        "{err}"
    );
    assert!(err.contains("did you mean `app`?"), "{err}");
    assert!(
        err.contains(&format!("{p}:13:14: error: invalid path_regex")),
        "{err}"
    );
    assert!(err.contains("3 errors in"), "{err}");
}

#[test]
fn plugin_config_errors_point_inside_the_plugin_table() {
    let cfg = r#"[[servers]]
listen = ["127.0.0.1:18081"]
[[servers.routes]]
plugins = [
  { name = "respond", config = { status = 200, bodyy = "x" } },
  { name = "respnd" },
  { name = "rewrite", config = { regex = "(", replacement = "/" } },
]
"#;
    let out = check_text(cfg);
    assert_eq!(out.code, Some(1));
    let (err, p) = (&out.stderr, out.path.display());
    assert!(
        err.contains(&format!(
            "{p}:5:48: error: plugin `respond`: unknown field `bodyy`"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{p}:6:12: error: unknown plugin `respnd`")),
        "{err}"
    );
    assert!(err.contains("did you mean `respond`?"), "{err}");
    assert!(
        err.contains(&format!(
            "{p}:7:32: error: plugin `rewrite`: regex parse error: unclosed group"
        )),
        "{err}"
    );
}

/// `[...plugins.config]` header tables: errors point at the offending key or value inside
/// the table, exactly as for inline tables (not at the table header).
#[test]
fn table_style_plugin_config_errors_point_at_the_key_or_value() {
    let cfg = r#"[[servers]]
listen = ["127.0.0.1:18082"]

[[servers.routes]]
path = "/a"

[[servers.routes.plugins]]
name = "respond"

[servers.routes.plugins.config]
status = 200
bodyy = "x"

[[servers.routes]]
path = "/b"

[[servers.routes.plugins]]
name = "respond"

[servers.routes.plugins.config]
body = "x"
status = "two hundred"
"#;
    let out = check_text(cfg);
    assert_eq!(out.code, Some(1));
    let (err, p) = (&out.stderr, out.path.display());
    assert!(
        err.contains(&format!(
            "{p}:12:1: error: plugin `respond`: unknown field `bodyy`"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("{p}:22:10: error: plugin `respond`: invalid type")),
        "{err}"
    );
}

#[test]
fn syntax_errors_and_bad_values_never_panic() {
    for text in [
        "[[servers]\nlisten = 1",
        "servers = 3",
        "[[servers]]\nlisten = [\"nowhere\"]\nmax_body_bytes = \"lots\"\n[[servers.routes]]\n",
        "[upstreams.a]\nservers = [{ addr = \"example.com:80\" }]\nread_timeout = \"soon\"\n",
        "",
    ] {
        let out = check_text(text);
        let err = &out.stderr;
        assert_eq!(out.code, Some(1), "{text:?} -> {err}");
        assert!(err.contains(&format!("{}:", out.path.display())), "{err}");
        assert!(!err.contains("panicked"), "{err}");
    }
}

/// Connection limits are checked like every other value, and a route written so that no
/// conformed request can match it (not normalized, encoded, with a port) is an error.
#[test]
fn connection_limits_and_unmatchable_routes_are_reported() {
    let cfg = r#"[[servers]]
listen = ["127.0.0.1:18083"]
client_header_timeout = "0s"
keepalive_timeout = "soon"
max_connections = 0
lingering_timeout = "0s"

[[servers.routes]]
path_prefix = "/a//b/"
hosts = ["api.example.com:8080", "a b"]

[[servers.routes]]
path = "/caf%C3%A9"

[[servers.routes]]
path = "/x;y"
"#;
    let out = check_text(cfg);
    assert_eq!(out.code, Some(1));
    let (err, p) = (&out.stderr, out.path.display());
    for want in [
        format!("{p}:3:1: error: `client_header_timeout` must be more than zero"),
        format!("{p}:4:21: error: `keepalive_timeout`: invalid duration"),
        format!("{p}:5:19: error: `max_connections` = 0 is out of range"),
        format!("{p}:6:1: error: `lingering_timeout` must be more than zero"),
        format!("{p}:9:15: error: path \"/a//b/\" never matches"),
        format!("{p}:10:10: error: host \"api.example.com:8080\" never matches"),
        format!("{p}:10:34: error: invalid host name \"a b\""),
        format!("{p}:13:8: error: path \"/caf%C3%A9\" never matches"),
        format!("{p}:16:8: error: path \"/x;y\" never matches"),
    ] {
        assert!(err.contains(&want), "missing {want:?} in:\n{err}");
    }
    assert!(err.contains("write it as \"/a/b/\""), "{err}");
    assert!(err.contains("write it as \"/café\""), "{err}");
}

#[test]
fn cache_mistakes_are_reported_by_dash_t_with_line_and_column() {
    let cfg = r#"[upstreams.origin]
servers = [{ addr = "127.0.0.1:9001" }]

[caches.main]
[caches.main.http]
max_object_size = 0
default_tll = "1m"

[[servers]]
listen = ["127.0.0.1:18080"]

[[servers.routes]]
path_prefix = "/a"
upstream = "origin"
cache = { use = "mian" }

[[servers.routes]]
path_prefix = "/b"
upstream = "origin"
cache = { use = "main", key = "$scheme$hots$request_uri" }
"#;
    let out = check_text(cfg);
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    let (err, p) = (&out.stderr, out.path.display());
    for expected in [
        format!("{p}:6:1: error: cache `main` http: `max_object_size` must be more than 0"),
        format!("{p}:7:1: error: unknown key `default_tll`"),
        format!("{p}:15:17: error: undefined cache `mian`"),
        format!("{p}:20:31: error: route `cache` key: unknown variable `$hots`"),
    ] {
        assert!(err.contains(&expected), "missing {expected:?} in:\n{err}");
    }
    assert!(err.contains("did you mean `main`?"), "{err}");
}
