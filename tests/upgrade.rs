//! Graceful upgrade / reload: a new process started with `-u` takes the listeners over when
//! the old one gets SIGQUIT, and no request fails while it happens.

pub mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::edge::Edge;
use common::{client, free_port, wait_until};

fn config(port: u16, version: &str) -> String {
    format!(
        r#"
[server]
pid_file = "{{dir}}/edgeproxy.pid"
upgrade_sock = "{{dir}}/upgrade.sock"
grace_period = "1s"
graceful_shutdown_timeout = "2s"

[[servers]]
listen = ["127.0.0.1:{port}"]

[[servers.routes]]
plugins = [{{ name = "respond", config = {{ body = "{version}" }} }}]
"#
    )
}

#[test]
fn upgrade_with_sigquit_loses_no_request() {
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Both processes share the dir so they agree on the upgrade socket path.
    let shared = dir.path().to_path_buf();
    let mut old = Edge::spawn_in(dir, "old", &config(port, "v1"), &[]);
    old.wait_listening(&[addr])
        .unwrap_or_else(|e| panic!("{e}\n{}", old.stderr()));

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let load: Vec<_> = (0..4)
        .map(|_| {
            let (stop, done) = (stop.clone(), done.clone());
            std::thread::spawn(move || {
                let c = client();
                let mut results = Vec::new();
                while !stop.load(Ordering::SeqCst) && results.len() < 20_000 {
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

    let new_dir = tempfile::Builder::new().tempdir_in(&shared).unwrap();
    let cfg = config(port, "v2").replace("{dir}", &shared.display().to_string());
    let new = Edge::spawn_in(new_dir, "new", &cfg, &["-u"]);
    // The new process waits on the upgrade socket; then the old one hands over and drains.
    wait_until("the upgrade socket", Duration::from_secs(10), || {
        shared.join("upgrade.sock").exists()
    })
    .unwrap();
    let pid = old.child.id() as i32;
    unsafe {
        libc::kill(pid, libc::SIGQUIT);
    }
    let switched = wait_until("v2 to answer", Duration::from_secs(10), || {
        client()
            .get(format!("http://{addr}/"))
            .send()
            .and_then(|r| r.text())
            .is_ok_and(|b| b == "v2")
    });
    // The old process drains its keep-alive connections within the grace period, then exits;
    // the load keeps going through that and a little after.
    let exited = old.wait_exit(Duration::from_secs(15));
    let after = done.load(Ordering::SeqCst);
    let load_after = wait_until("load after the switch", Duration::from_secs(10), || {
        done.load(Ordering::SeqCst) >= after + 200
    });
    stop.store(true, Ordering::SeqCst);
    if let Err(e) = exited {
        panic!(
            "old process did not exit after SIGQUIT: {e}\n{}",
            old.stderr()
        );
    }
    load_after.unwrap();
    let results: Vec<_> = load.into_iter().flat_map(|t| t.join().unwrap()).collect();
    if let Err(e) = switched {
        panic!("new process never answered: {e}\n{}", new.stderr());
    }
    let failed: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed, e.g. {:?}",
        failed.len(),
        results.len(),
        failed.first()
    );
    let v1 = results.iter().filter(|r| r.as_deref() == Ok("v1")).count();
    let v2 = results.iter().filter(|r| r.as_deref() == Ok("v2")).count();
    assert!(v1 > 0 && v2 > 0, "v1 {v1}, v2 {v2}");
    drop(old);
}
