//! Reload in place through the real binary, as an operator drives it: `edgeproxy -s reload`
//! puts the new configuration in force before it returns (every later request — on a new
//! connection or a kept-alive one — answers from it), in the same process, keeping the
//! warm L1 cache; a broken config, or one changing what cannot change in place, is refused
//! with the reason and the running one keeps serving; SIGHUP reloads too; `/status/config`
//! and the metrics say which generation is in force.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::edge::{binary, Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::{client, free_addr, wait_until};

/// A block answering `version` on `/`, a status route, and a cached page route.
fn config(addr: SocketAddr, admin: SocketAddr, origin: SocketAddr, version: &str) -> String {
    let dir = "{dir}";
    format!(
        r#"
[server]
pid_file = "edgeproxy.pid"
upgrade_sock = "upgrade.sock"

[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[caches.main]
l1_capacity = "8MiB"

[[servers]]
name = "edge"
listen = ["{addr}"]

[[servers.routes]]
path = "/"
plugins = [{{ name = "respond", config = {{ body = "{version}" }} }}]

[[servers.routes]]
path = "/product"

[[servers.routes.plugins]]
name = "page"
[servers.routes.plugins.config]
cache = "main"
template = "{dir}/page.hbs"
params = {{ productId = {{ pattern = "[0-9]{{1,12}}" }} }}
sources = [
  {{ name = "product", key = "product_{{productId}}", origin = "origin", path = "/p/{{productId}}", ttl = "10m" }},
]

[[servers]]
name = "admin"
listen = ["{admin}"]

[[servers.routes]]
path = "/status/config"
plugins = [{{ name = "config-status" }}]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]
"#
    )
}

fn edgeproxy(args: &[&str], conf: &Path) -> Output {
    Command::new(binary())
        .args(args)
        .arg("-c")
        .arg(conf)
        .output()
        .expect("run edgeproxy")
}

fn get(c: &reqwest::blocking::Client, url: &str) -> (u16, String, Option<String>) {
    let r = c.get(url).send().expect("request");
    let status = r.status().as_u16();
    let cache = r
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    (status, r.text().unwrap_or_default(), cache)
}

/// Writes config `text` (with `{dir}` replaced by the file's directory) to `conf` and
/// runs `edgeproxy -s reload` on it.
fn write_and_reload(conf: &Path, text: &str) -> Output {
    let dir = conf.parent().unwrap().display().to_string();
    std::fs::write(conf, text.replace("{dir}", &dir)).unwrap();
    edgeproxy(&["-s", "reload"], conf)
}

struct Running {
    edge: Edge,
    addr: SocketAddr,
    admin: SocketAddr,
    origin: Origin,
}

fn start(version: &str) -> Running {
    let origin = Origin::builder()
        .route("/p/7", 200, r#"{"name":"Widget"}"#)
        .start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("page.hbs"), "{{product.name}}").unwrap();
    let edge = Edge::start_in(
        dir,
        "edge",
        &config(ANY_PORT, ANY_PORT, origin.addr, version),
    );
    let [addr, admin] = edge.listening();
    Running {
        edge,
        addr,
        admin,
        origin,
    }
}

#[test]
fn reload_is_in_force_when_the_command_returns_and_keeps_the_l1() {
    let r = start("v1");
    let conf = r.edge.path("edge.toml");
    let pid = r.edge.child.id();
    let c = client();
    let base = format!("http://{}", r.addr);
    let page = format!("{base}/product?productId=7");
    assert_eq!(get(&c, &page).2.as_deref(), Some("ORIGIN"));
    assert_eq!(get(&c, &page).2.as_deref(), Some("L1"));
    let hits = r.origin.hits();
    for v in 2..=6 {
        let text = config(ANY_PORT, ANY_PORT, r.origin.addr, &format!("v{v}"));
        let out = write_and_reload(&conf, &text);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("reloaded in place: generation {v} in force")),
            "{stdout}"
        );
        // In force at once: a kept-alive connection (the client's pool) and a new one.
        assert_eq!(get(&c, &base).1, format!("v{v}"));
        assert_eq!(get(&client(), &base).1, format!("v{v}"));
        // The page's data stays in L1 (the cache's spec did not change).
        let (status, body, cache) = get(&c, &page);
        assert_eq!((status, cache.as_deref()), (200, Some("L1")), "{body}");
        assert_eq!(body, "Widget");
    }
    assert_eq!(
        r.origin.hits(),
        hits,
        "no origin request caused by the reloads"
    );
    assert_eq!(r.edge.child.id(), pid, "the same process");
    let status: serde_json::Value = c
        .get(format!("http://{}/status/config", r.admin))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["generation"], 6, "{status}");
    let kept = status["kept"].to_string();
    assert!(
        kept.contains("cache/main") && kept.contains("upstream/origin"),
        "{status}"
    );
    let metrics = c
        .get(format!("http://{}/metrics", r.admin))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("edgeproxy_config_generation 6"),
        "{metrics}"
    );
    assert!(
        metrics.contains("edgeproxy_config_reloads_total{result=\"applied\"} 5"),
        "{metrics}"
    );
}

#[test]
fn broken_or_out_of_place_configs_are_refused_and_the_running_one_keeps_serving() {
    let r = start("old");
    let conf = r.edge.path("edge.toml");
    let c = client();
    let base = format!("http://{}", r.addr);
    // A syntax error: the command names FILE:LINE:COL, nothing changes.
    let out = write_and_reload(&conf, "[[servers]]\nlisten = [\"nowhere\"]\n");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("edge.toml:2:11: error"), "{err}");
    assert_eq!(get(&c, &base).1, "old");
    // A new listener cannot be added in place: refused, naming the key and `-s upgrade`.
    let moved = config(free_addr(), ANY_PORT, r.origin.addr, "new");
    let out = write_and_reload(&conf, &moved);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("`edge` listen") && err.contains("-s upgrade"),
        "{err}"
    );
    assert!(err.contains("generation 1 keeps serving"), "{err}");
    assert_eq!(get(&c, &base).1, "old");
    // A process setting neither.
    let threads = config(ANY_PORT, ANY_PORT, r.origin.addr, "new")
        .replace("[server]\n", "[server]\nthreads = 2\n");
    let err = String::from_utf8_lossy(&write_and_reload(&conf, &threads).stderr).into_owned();
    assert!(err.contains("[server] threads"), "{err}");
    let status: serde_json::Value = c
        .get(format!("http://{}/status/config", r.admin))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["generation"], 1);
    assert!(status["last_refused"]["error"]
        .as_str()
        .is_some_and(|e| e.contains("threads")));
    // Then a good one applies.
    let good = config(ANY_PORT, ANY_PORT, r.origin.addr, "new");
    assert!(write_and_reload(&conf, &good).status.success());
    assert_eq!(get(&c, &base).1, "new");
}

#[test]
fn sighup_reloads_in_place() {
    let r = start("before");
    let conf = r.edge.path("edge.toml");
    let dir = conf.parent().unwrap().display().to_string();
    let after = config(ANY_PORT, ANY_PORT, r.origin.addr, "after").replace("{dir}", &dir);
    std::fs::write(&conf, after).unwrap();
    let base = format!("http://{}", r.addr);
    wait_until("SIGHUP to apply", Duration::from_secs(10), || {
        // Sent again while not applied: one sent before the signal watch ran is ignored.
        // SAFETY: kill(2) on our own child.
        unsafe { libc::kill(r.edge.child.id() as i32, libc::SIGHUP) };
        std::thread::sleep(Duration::from_millis(100));
        client()
            .get(&base)
            .send()
            .and_then(|r| r.text())
            .is_ok_and(|b| b == "after")
    })
    .unwrap();
}

#[test]
fn reloads_under_load_lose_no_request_and_new_requests_see_the_new_config() {
    let r = start("v0");
    let conf = r.edge.path("edge.toml");
    let addr = r.addr;
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|i| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                // Half the clients keep connections alive, half open one per request.
                let pooled = client();
                let mut failed = Vec::new();
                while !stop.load(Ordering::SeqCst) {
                    let c = if i % 2 == 0 { pooled.clone() } else { client() };
                    if let Err(e) = c
                        .get(format!("http://{addr}/"))
                        .send()
                        .and_then(|r| r.text())
                    {
                        failed.push(e.to_string());
                    }
                    done.fetch_add(1, Ordering::SeqCst);
                }
                failed
            })
        })
        .collect();
    let c = client();
    for v in 1..=20 {
        let text = config(ANY_PORT, ANY_PORT, r.origin.addr, &format!("v{v}"));
        let out = write_and_reload(&conf, &text);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Right after the command returns, new requests answer from the new config.
        for _ in 0..5 {
            assert_eq!(
                get(&client(), &format!("http://{addr}/")).1,
                format!("v{v}")
            );
            assert_eq!(get(&c, &format!("http://{addr}/")).1, format!("v{v}"));
        }
        if v % 5 == 0 {
            assert!(!write_and_reload(&conf, "[[servers]\n").status.success());
        }
    }
    stop.store(true, Ordering::SeqCst);
    let failed: Vec<String> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    assert!(done.load(Ordering::SeqCst) > 100);
    assert!(
        failed.is_empty(),
        "{} failed, e.g. {:?}",
        failed.len(),
        failed.first()
    );
}

#[test]
fn a_member_marked_down_stays_down_across_a_reload() {
    let (dead, alive) = (free_addr(), free_addr());
    let _alive = Origin::builder().start_at(alive);
    let (addr, admin) = (ANY_PORT, ANY_PORT);
    let cfg = |v: &str| {
        format!(
            r#"
[server]
pid_file = "edgeproxy.pid"

[upstreams.app]
servers = [{{ addr = "{dead}" }}, {{ addr = "{alive}" }}]
max_fails = 1
fail_timeout = "60s"

[[servers]]
listen = ["{addr}"]
[[servers.routes]]
path = "/v"
plugins = [{{ name = "respond", config = {{ body = "{v}" }} }}]
[[servers.routes]]
path_prefix = "/"
upstream = "app"

[[servers]]
name = "admin"
listen = ["{admin}"]
[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]
"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let edge = Edge::start_in(dir, "edge", &cfg("one"));
    let [addr, _admin] = edge.listening();
    let c = client();
    // Round robin reaches the dead member within two requests: refused, out for 60 s.
    for _ in 0..4 {
        assert_eq!(get(&c, &format!("http://{addr}/x")).0, 200);
    }
    wait_until(
        "the dead member to be taken out",
        Duration::from_secs(5),
        || edge.stderr().contains("temporarily disabled"),
    )
    .unwrap();
    // It comes back to life, but it is still out for its fail_timeout, reload or not.
    let revived = Origin::builder().start_at(dead);
    let out = write_and_reload(&edge.path("edge.toml"), &cfg("two"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get(&c, &format!("http://{addr}/v")).1, "two");
    for _ in 0..10 {
        assert_eq!(get(&c, &format!("http://{addr}/x")).0, 200);
    }
    assert_eq!(revived.hits(), 0, "the member marked down stayed down");
}

#[test]
fn a_background_process_reloads_in_place() {
    // `-d` forks after the config was read: defaults that depend on the pid (node_name)
    // must not make every reload "change" them.
    let origin = Origin::start();
    let (addr, admin) = (free_addr(), free_addr());
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("page.hbs"), "{{product.name}}").unwrap();
    let mut edge = Edge::spawn_in(
        dir,
        "edge",
        &config(addr, admin, origin.addr, "d1"),
        &["-d"],
    );
    let pid_file = edge.path("edgeproxy.pid");
    struct Kill(std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            if let Some(pid) = std::fs::read_to_string(&self.0)
                .ok()
                .and_then(|p| p.trim().parse::<i32>().ok())
            {
                // SAFETY: kill(2) on the daemon this test started.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
    let _kill = Kill(pid_file);
    // The foreground half exits once the daemon runs.
    let _ = edge.wait_exit(Duration::from_secs(10));
    let ctl = edge.path("edgeproxy.ctl");
    wait_until("the daemon to listen", Duration::from_secs(10), || {
        crate::common::port_open(addr) && crate::common::port_open(admin) && ctl.exists()
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
    let conf = edge.path("edge.toml");
    let out = write_and_reload(&conf, &config(addr, admin, origin.addr, "d2"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get(&client(), &format!("http://{addr}/")).1, "d2");
}

#[test]
fn a_key_that_was_hot_stays_hot_across_a_reload() {
    let (a, b) = (Origin::start(), Origin::start());
    let (listen, admin) = (ANY_PORT, ANY_PORT);
    let cfg = |v: &str| {
        format!(
            "[server]\npid_file = \"edgeproxy.pid\"\n\
             [upstreams.app]\nservers = [{{ addr = \"{}\" }}, {{ addr = \"{}\" }}]\n\
             balance = \"hash\"\nhash_key = \"$arg_productId\"\n\
             [upstreams.app.hot]\nmin_rate = 5\nmin_share = 0.5\nhold = \"60s\"\n\
             [[servers]]\nlisten = [\"{listen}\"]\n\
             [[servers.routes]]\npath = \"/v\"\nplugins = [{{ name = \"respond\", config = {{ body = \"{v}\" }} }}]\n\
             [[servers.routes]]\npath_prefix = \"/\"\nupstream = \"app\"\n\
             [[servers]]\nlisten = [\"{admin}\"]\n[[servers.routes]]\npath = \"/status/hot\"\n\
             plugins = [{{ name = \"hot-status\" }}]\n",
            a.addr, b.addr
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let edge = Edge::start_in(dir, "edge", &cfg("one"));
    let [listen, admin] = edge.listening();
    let c = client();
    let hot = |c: &reqwest::blocking::Client| -> bool {
        let doc: serde_json::Value = c
            .get(format!("http://{admin}/status/hot"))
            .send()
            .and_then(|r| r.json())
            .unwrap_or_default();
        doc["groups"]["app"]["hot"]
            .as_array()
            .is_some_and(|keys| keys.iter().any(|k| k["key"] == "3"))
    };
    wait_until("key 3 hot", Duration::from_secs(20), || {
        for _ in 0..10 {
            let _ = c.get(format!("http://{listen}/p?productId=3")).send();
        }
        hot(&c)
    })
    .unwrap();
    let out = write_and_reload(&edge.path("edge.toml"), &cfg("two"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get(&c, &format!("http://{listen}/v")).1, "two");
    assert!(hot(&c), "the hot set was kept");
}

/// A WebSocket echo origin on raw TCP: answers the upgrade with 101, then echoes bytes.
fn ws_echo(mut s: std::net::TcpStream) {
    use std::io::{Read, Write};
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if s.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let _ = s.write_all(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
    );
    let mut buf = [0u8; 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 || s.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

#[test]
fn a_websocket_opened_before_a_reload_keeps_working_after_it() {
    use std::io::{Read, Write};
    let origin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin_addr = origin.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in origin.incoming().flatten() {
            std::thread::spawn(move || ws_echo(s));
        }
    });
    let cfg = |v: &str| {
        format!(
            "[server]\npid_file = \"edgeproxy.pid\"\n\
             [upstreams.ws]\nservers = [{{ addr = \"{origin_addr}\" }}]\n\
             [[servers]]\nlisten = [\"{ANY_PORT}\"]\n\
             [[servers.routes]]\npath = \"/v\"\n\
             plugins = [{{ name = \"respond\", config = {{ body = \"{v}\" }} }}]\n\
             [[servers.routes]]\npath = \"/ws\"\nupstream = \"ws\"\n"
        )
    };
    let edge = Edge::start_in(tempfile::tempdir().unwrap(), "edge", &cfg("one"));
    let [addr] = edge.listening();
    let mut ws = std::net::TcpStream::connect(addr).unwrap();
    ws.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    ws.write_all(
        b"GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            ws.read(&mut byte).unwrap(),
            1,
            "{}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    let echo = |ws: &mut std::net::TcpStream, msg: &[u8]| {
        ws.write_all(msg).unwrap();
        let mut got = vec![0u8; msg.len()];
        ws.read_exact(&mut got).unwrap();
        assert_eq!(got, msg);
    };
    echo(&mut ws, b"before the reload");
    let out = write_and_reload(&edge.path("edge.toml"), &cfg("two"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(get(&client(), &format!("http://{addr}/v")).1, "two");
    // The tunnel opened on the old generation goes on, untouched by the reload.
    echo(&mut ws, b"after the reload");
}

#[test]
fn http2_streams_on_kept_connections_lose_nothing_across_reloads() {
    // h2load keeps 2 prior-knowledge h2c connections with 8 concurrent streams each while
    // the config is reloaded 20 times; every stream must succeed.
    let cfg = |v: &str| {
        format!(
            "[server]\npid_file = \"edgeproxy.pid\"\n\
             [[servers]]\nlisten = [{{ addr = \"{ANY_PORT}\", http2 = true }}]\n\
             [[servers.routes]]\npath = \"/\"\n\
             plugins = [{{ name = \"respond\", config = {{ body = \"{v}\" }} }}]\n"
        )
    };
    let edge = Edge::start_in(tempfile::tempdir().unwrap(), "edge", &cfg("v0"));
    let [addr] = edge.listening();
    let load = std::thread::spawn(move || {
        Command::new("h2load")
            .args(["-n", "40000", "-c", "2", "-m", "8"])
            .arg(format!("http://{addr}/"))
            .output()
    });
    // Reload while the streams run: 40,000 requests take seconds, 20 reloads a fraction.
    std::thread::sleep(Duration::from_millis(200));
    let conf = edge.path("edge.toml");
    for v in 1..=20 {
        let out = write_and_reload(&conf, &cfg(&format!("v{v}")));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = load.join().unwrap().expect("h2load (nghttp2-client) runs");
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(
        report.contains("40000 succeeded, 0 failed, 0 errored, 0 timeout"),
        "{report}"
    );
    let last = Command::new("curl")
        .args(["-s", "--http2-prior-knowledge"])
        .arg(format!("http://{addr}/"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&last.stdout), "v20");
}
