//! The process lifecycle as an operator drives it: `-s upgrade` (the process hand-over) in a
//! loop under load (no request fails, the service is never unreachable), a failed upgrade or
//! reload keeps the old process,
//! a stray SIGQUIT is harmless, `-s quit` stops promptly, a taken port is a one-line error,
//! and `-d` with a relative config path keeps working after it leaves the directory.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::edge::{binary, Edge, ANY_PORT};
use crate::common::{client, free_addr, wait_until};

fn config(addr: SocketAddr, version: &str) -> String {
    format!(
        r#"
[server]
pid_file = "edgeproxy.pid"
upgrade_sock = "upgrade.sock"
grace_period = "1s"
graceful_shutdown_timeout = "2s"

[[servers]]
listen = ["{addr}"]

[[servers.routes]]
plugins = [{{ name = "respond", config = {{ body = "{version}" }} }}]
"#
    )
}

/// Runs `edgeproxy ARGS -c conf`.
fn edgeproxy(args: &[&str], conf: &Path) -> Output {
    Command::new(binary())
        .args(args)
        .arg("-c")
        .arg(conf)
        .output()
        .expect("run edgeproxy")
}

fn pid_in(dir: &Path) -> Option<i32> {
    std::fs::read_to_string(dir.join("edgeproxy.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Stops whatever process the pid file names when the test ends (reloaded processes run in
/// the background, outside the harness's child processes).
struct StopOnDrop(PathBuf);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = pid_in(&self.0) {
            unsafe { libc::kill(pid, libc::SIGINT) };
        }
    }
}

fn get(addr: SocketAddr) -> Result<String, String> {
    client()
        .get(format!("http://{addr}/"))
        .send()
        .and_then(|r| r.text())
        .map_err(|e| e.to_string())
}

#[test]
fn reload_in_a_loop_under_load_loses_no_request() {
    let addr = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let mut first = Edge::spawn_in(dir, "first", &config(addr, "v0"), &[]);
    let _stop = StopOnDrop(first.dir.path().to_path_buf());
    first
        .wait_started()
        .unwrap_or_else(|e| panic!("{e}\n{}", first.stderr()));
    let conf = first.path("first.toml");

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                let c = client();
                let mut results = Vec::new();
                while !stop.load(Ordering::SeqCst) && results.len() < 50_000 {
                    let r = c
                        .get(format!("http://{addr}/"))
                        .send()
                        .and_then(|r| r.text());
                    results.push(r.map_err(|e| e.to_string()));
                    done.fetch_add(1, Ordering::SeqCst);
                }
                results
            })
        })
        .collect();

    for v in 1..=4 {
        let before = done.load(Ordering::SeqCst);
        std::fs::write(&conf, config(addr, &format!("v{v}"))).unwrap();
        let out = edgeproxy(&["-s", "upgrade"], &conf);
        assert!(
            out.status.success(),
            "upgrade {v}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("upgraded: pid"));
        // Once the command returns, every new connection is the new process's.
        let want = format!("v{v}");
        for _ in 0..20 {
            assert_eq!(get(addr).as_deref(), Ok(want.as_str()), "after upgrade {v}");
        }
        wait_until("load to go on", Duration::from_secs(10), || {
            done.load(Ordering::SeqCst) >= before + 200
        })
        .unwrap();
    }
    // The last old process drains and exits; the load keeps going through that.
    let after = done.load(Ordering::SeqCst);
    wait_until(
        "load after the last reload",
        Duration::from_secs(20),
        || done.load(Ordering::SeqCst) >= after + 500,
    )
    .unwrap();
    stop.store(true, Ordering::SeqCst);
    let results: Vec<_> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed, e.g. {:?}",
        failed.len(),
        results.len(),
        failed.first()
    );
    for v in 0..=4 {
        let want = format!("v{v}");
        assert!(
            results.iter().any(|r| r.as_deref() == Ok(want.as_str())),
            "{want} never answered"
        );
    }
    // The first process handed over and exited by itself.
    first.wait_exit(Duration::from_secs(20)).unwrap();
}

#[test]
fn failed_reload_keeps_the_running_process_and_its_pid_file() {
    let addr = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let mut edge = Edge::spawn_in(dir, "edge", &config(addr, "old"), &[]);
    let _stop = StopOnDrop(edge.dir.path().to_path_buf());
    edge.wait_started().unwrap();
    let pid = edge.child.id() as i32;
    let conf = edge.path("edge.toml");
    // Valid for -t, but the new process cannot start: its strong Consul is unreachable.
    let broken = config(addr, "new").replace(
        "[[servers]]",
        &format!(
            "[upstreams.gone]\n[upstreams.gone.consul]\naddress = \"http://{}\"\n\
             prefix = \"x/\"\nstrong_dependency = true\n\n[[servers]]",
            free_addr()
        ),
    );
    std::fs::write(&conf, broken).unwrap();
    let out = edgeproxy(&["-s", "reload"], &conf);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("keeps serving"), "{err}");
    assert_eq!(get(addr).as_deref(), Ok("old"));
    assert_eq!(pid_in(edge.dir.path()), Some(pid));
    // A config error is reported with its position and nothing is started.
    std::fs::write(&conf, "[[servers]]\nlisten = [\"nowhere\"]\n").unwrap();
    let out = edgeproxy(&["-s", "reload"], &conf);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        err.contains("edge.toml:2:11: error: invalid listen address"),
        "{err}"
    );
    assert_eq!(get(addr).as_deref(), Ok("old"));
}

#[test]
fn stray_sigquit_is_ignored_and_quit_stops_promptly() {
    let addr = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let mut edge = Edge::spawn_in(dir, "edge", &config(addr, "up"), &[]);
    edge.wait_started().unwrap();
    let pid = edge.child.id() as i32;
    unsafe { libc::kill(pid, libc::SIGQUIT) };
    // The guard waits up to 5 s for a new process; past that the old one must still serve.
    wait_until("the SIGQUIT to be ignored", Duration::from_secs(10), || {
        edge.stderr().contains("SIGQUIT ignored")
    })
    .unwrap();
    assert_eq!(get(addr).as_deref(), Ok("up"));
    let out = edgeproxy(&["-s", "quit"], &edge.path("edge.toml"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Idle: it exits at once (nothing in flight), and removes its pid file.
    edge.wait_exit(Duration::from_secs(2)).unwrap();
    assert_eq!(pid_in(edge.dir.path()), None);
}

#[test]
fn a_taken_port_is_a_one_line_error_not_a_half_running_process() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap();
    let free = ANY_PORT;
    let cfg = format!(
        "[[servers]]\nlisten = [\"{free}\"]\n[[servers.routes]]\n\
         plugins = [{{ name = \"respond\" }}]\n\
         [[servers]]\nname = \"second\"\nlisten = [\"{busy}\"]\n[[servers.routes]]\n\
         plugins = [{{ name = \"respond\" }}]\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut edge = Edge::spawn_in(dir, "edge", &cfg, &[]);
    let status = edge.wait_exit(Duration::from_secs(10)).unwrap();
    assert_eq!(status.code(), Some(1));
    let err = edge.stderr();
    assert!(
        err.contains(&format!("cannot listen on {busy} (server block `second`)"))
            && err.contains("in use"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    drop(taken);
}

#[test]
fn daemon_with_a_relative_config_path_resolves_paths_before_leaving_the_directory() {
    let addr = free_addr();
    let dir = tempfile::tempdir().unwrap();
    let cfg = format!(
        "[server]\npid_file = \"run/edge.pid\"\n\n[[servers]]\nlisten = [\"{addr}\"]\n\
         plugins = [{{ name = \"access-log\", config = {{ path = \"logs/access.log\" }} }}]\n\
         [[servers.routes]]\nplugins = [{{ name = \"respond\", config = {{ body = \"ok\" }} }}]\n"
    );
    std::fs::create_dir_all(dir.path().join("conf/run")).unwrap();
    std::fs::create_dir_all(dir.path().join("conf/logs")).unwrap();
    std::fs::write(dir.path().join("conf/edge.toml"), cfg).unwrap();
    let out = Command::new(binary())
        .current_dir(dir.path())
        .args(["-d", "-c", "conf/edge.toml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pid_file = dir.path().join("conf/run/edge.pid");
    wait_until("the pid file", Duration::from_secs(10), || {
        pid_file.exists()
    })
    .unwrap();
    struct Stop(PathBuf);
    impl Drop for Stop {
        fn drop(&mut self) {
            if let Some(pid) = std::fs::read_to_string(&self.0)
                .ok()
                .and_then(|s| s.trim().parse::<i32>().ok())
            {
                unsafe { libc::kill(pid, libc::SIGINT) };
            }
        }
    }
    let _stop = Stop(pid_file);
    wait_until("the daemon to answer", Duration::from_secs(10), || {
        get(addr).is_ok_and(|b| b == "ok")
    })
    .unwrap();
    let log = dir.path().join("conf/logs/access.log");
    wait_until("the access log line", Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("\"status\":200"))
    })
    .unwrap();
}

#[test]
fn error_log_and_level_from_the_config_reopen_on_sigusr1() {
    let (addr, dead) = (free_addr(), free_addr());
    let cfg = format!(
        "[server]\nerror_log = \"error.log\"\nlog_level = \"warn\"\n\n\
         [upstreams.dead]\nservers = [{{ addr = \"{dead}\" }}]\nretries = 0\nmax_fails = 0\n\n\
         [[servers]]\nlisten = [\"{addr}\"]\n[[servers.routes]]\nupstream = \"dead\"\n"
    );
    let dir = tempfile::tempdir().unwrap();
    let mut edge = Edge::spawn_in(dir, "edge", &cfg, &[]);
    edge.wait_listening(&[addr]).unwrap();
    let log = edge.path("error.log");
    assert_eq!(
        client()
            .get(format!("http://{addr}/"))
            .send()
            .unwrap()
            .status(),
        502
    );
    wait_until("the warning in error.log", Duration::from_secs(5), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("connect failed"))
    })
    .unwrap();
    // log_level = "warn": no info lines.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(!text.contains(" INFO "), "{text}");
    // logrotate: move the file, SIGUSR1, and the next line lands in a new error.log.
    std::fs::rename(&log, edge.path("error.log.1")).unwrap();
    unsafe { libc::kill(edge.child.id() as i32, libc::SIGUSR1) };
    wait_until("a reopened error.log", Duration::from_secs(5), || {
        client().get(format!("http://{addr}/")).send().is_ok()
            && std::fs::read_to_string(&log).is_ok_and(|l| l.contains("connect failed"))
    })
    .unwrap();
    let out = crate::common::edge::check_text("[server]\nlog_level = \"lots=of=noise\"\n");
    assert!(
        out.stderr
            .contains("bad.toml:2:13: error: invalid log_level"),
        "{}",
        out.stderr
    );
}

#[test]
fn reload_reaches_a_process_as_soon_as_it_says_it_runs() {
    // The control socket is bound with the listeners, before the process says it runs:
    // a reload sent right then is answered (it was refused while a background service
    // bound it later, seen under load).
    for round in 0..3 {
        let edge = Edge::start(&config(ANY_PORT, "v1"));
        let out = edgeproxy(&["-s", "reload"], &edge.path("edgeproxy.toml"));
        assert!(
            out.status.success(),
            "round {round}: {}\n{}",
            String::from_utf8_lossy(&out.stderr),
            edge.stderr()
        );
    }
}

#[test]
fn a_background_start_does_not_hold_the_callers_output_pipes() {
    // `edgeproxy -d … | cat` must end: the daemon lets go of the stdout it inherited.
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("edgeproxy.toml");
    let addr = free_addr();
    let text = config(addr, "d").replace(
        "grace_period",
        &format!(
            "error_log = \"{}/error.log\"\ngrace_period",
            dir.path().display()
        ),
    );
    std::fs::write(&conf, text).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let c = conf.clone();
    std::thread::spawn(move || {
        let _ = tx.send(edgeproxy(&["-d"], &c));
    });
    let out = rx.recv_timeout(Duration::from_secs(20));
    let stop = edgeproxy(&["-s", "stop"], &conf);
    let out = out.expect("edgeproxy -d with its output captured never returned");
    assert!(out.status.success(), "{out:?}");
    assert!(stop.status.success(), "{stop:?}");
}
