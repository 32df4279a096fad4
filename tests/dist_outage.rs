//! Distribution tier end to end when Consul misbehaves: 500s, hangs and outages under load
//! fail no request and keep the last member set; the dump file carries the set across a
//! restart with Consul down; `strong_dependency` refuses to start without Consul.

mod common;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::consul::ConsulDouble;
use common::dist::{kv_key, servers_line, Client, DistConfig};
use common::edge::{binary, Edge};
use common::origin::Origin;
use common::{free_port, wait_until};

const BOUND: Duration = Duration::from_secs(15);

/// Requests sent in a loop by a background thread: statuses and answering origins.
struct Load {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<BTreeMap<(u16, u16), usize>>>,
    thread: Option<JoinHandle<()>>,
}

impl Load {
    fn start(edge: SocketAddr) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let (st, se) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            let client = Client::new(edge);
            while !st.load(Ordering::SeqCst) {
                let r = client.get("/load");
                *se.lock().unwrap().entry(r).or_insert(0) += 1;
            }
        });
        Load {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Requests answered by `port` with 200 so far.
    fn ok_from(&self, port: u16) -> usize {
        *self.seen.lock().unwrap().get(&(200, port)).unwrap_or(&0)
    }

    /// Stops the thread; returns (status, port) → count.
    fn finish(mut self) -> BTreeMap<(u16, u16), usize> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        self.seen.lock().unwrap().clone()
    }
}

fn watch_failures(edge: &Edge) -> usize {
    edge.stderr().matches("Consul watch failed").count()
}

/// Waits until the watcher logged `n` more failures, while requests keep flowing.
fn wait_failures(edge: &Edge, n: usize, what: &str) {
    let start = watch_failures(edge);
    assert!(
        wait_until(BOUND, || watch_failures(edge) >= start + n),
        "watcher never failed on {what}\n{}",
        edge.stderr()
    );
}

#[test]
fn consul_500_hang_and_outage_fail_no_request_and_keep_the_set() {
    let consul = ConsulDouble::start();
    let (a, b, c) = (Origin::start(), Origin::start(), Origin::start());
    consul.put(&kv_key(a.addr), "");
    consul.put(&kv_key(b.addr), "");
    let cfg = DistConfig::new()
        .group("connect_timeout = \"500ms\"")
        .consul(&consul.url(), &["dump_file = \"{dir}/app.dump\""]);
    let edge = Edge::start(&cfg.render(), &[cfg.listen]);
    let load = Load::start(cfg.listen);

    for (fault, name) in [(0, "500s"), (1, "a hang"), (2, "an outage")] {
        let before = (load.ok_from(a.addr.port()), load.ok_from(b.addr.port()));
        match fault {
            0 => consul.fail_with_500(true),
            1 => consul.hang(true),
            _ => consul.stop(),
        }
        wait_failures(&edge, 2, name);
        // The last set is kept: both members still get traffic during the fault.
        assert!(
            wait_until(BOUND, || load.ok_from(a.addr.port()) > before.0 + 5
                && load.ok_from(b.addr.port()) > before.1 + 5),
            "members lost during {name}"
        );
        match fault {
            0 => consul.fail_with_500(false),
            1 => consul.hang(false),
            _ => consul.restart(),
        }
    }

    // Back: changes apply again.
    consul.put(&kv_key(c.addr), "");
    assert!(
        wait_until(BOUND, || load.ok_from(c.addr.port()) > 0),
        "a change after the outage never applied\n{}",
        edge.stderr()
    );

    // An empty prefix is a failed-looking read: the last set stays (allow_empty is off).
    let reads = consul.requests();
    for o in [&a, &b, &c] {
        consul.delete(&kv_key(o.addr));
    }
    assert!(wait_until(BOUND, || consul.requests() >= reads + 3));
    let hits: Vec<usize> = [&a, &b, &c].iter().map(|o| o.hits()).collect();
    assert!(wait_until(BOUND, || [&a, &b, &c]
        .iter()
        .zip(&hits)
        .all(|(o, h)| o.hits() > h + 3)));

    let seen = load.finish();
    let total: usize = seen.values().sum();
    let failed: usize = seen
        .iter()
        .filter(|((s, _), _)| *s != 200)
        .map(|(_, n)| n)
        .sum();
    eprintln!(
        "requests under Consul faults: {total}, failed: {failed}, by (status, origin): {seen:?}"
    );
    assert_eq!(
        failed, 0,
        "requests failed while Consul misbehaved: {seen:?}"
    );
    assert!(edge.stderr().contains("keeping the last member set"));
}

#[test]
fn restart_with_consul_down_uses_the_dump_file() {
    let consul = ConsulDouble::start();
    let (a, b) = (Origin::start(), Origin::start());
    consul.put(&kv_key(a.addr), "");
    consul.put(&kv_key(b.addr), r#"{"weight":2}"#);
    let state = tempfile::tempdir().unwrap();
    let dump = state.path().join("app.dump");
    // The static seed refuses connections: only the dump can make requests succeed.
    let dead: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let cfg = DistConfig::new()
        .group(&servers_line(&[dead]))
        .group("connect_timeout = \"500ms\"")
        .consul(
            &consul.url(),
            &[&format!("dump_file = \"{}\"", dump.display())],
        );

    let first = Edge::start(&cfg.render(), &[cfg.listen]);
    let written = || std::fs::read_to_string(&dump).unwrap_or_default();
    assert!(
        wait_until(BOUND, || written().contains(&a.addr.to_string())
            && written().contains(&b.addr.to_string())),
        "dump file not written: {:?}",
        written()
    );
    drop(first);
    consul.stop();

    let second = Edge::start(&cfg.render(), &[cfg.listen]);
    let ports = Client::new(cfg.listen).ports("/from-dump", 30);
    assert_eq!(ports.iter().filter(|&&p| p == a.addr.port()).count(), 10);
    assert_eq!(ports.iter().filter(|&&p| p == b.addr.port()).count(), 20);
    assert!(second.stderr().contains("members from dump file"));
}

#[test]
fn strong_dependency_refuses_to_start_without_consul_and_says_why() {
    let consul = ConsulDouble::start();
    let a = Origin::start();
    consul.put(&kv_key(a.addr), "");
    consul.stop();
    let cfg = DistConfig::new()
        .group(&servers_line(&[a.addr]))
        .consul(&consul.url(), &["strong_dependency = true"]);
    let dir = tempfile::tempdir().unwrap();
    let text = cfg
        .render()
        .replace("{dir}", &dir.path().display().to_string());
    let path = dir.path().join("edgeproxy.toml");
    std::fs::write(&path, &text).unwrap();

    let mut child = Command::new(binary())
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("edgeproxy kept running without its strong dependency");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert!(!status.success(), "exit status {status}");
    assert!(
        stderr.contains("Consul is a strong dependency") && stderr.contains("group `app`"),
        "{stderr}"
    );

    // Control: with Consul up the same config starts and serves.
    consul.restart();
    let _edge = Edge::start(&text, &[cfg.listen]);
    assert_eq!(Client::new(cfg.listen).get("/").0, 200);
}
