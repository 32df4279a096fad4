//! Distribution tier end to end when Consul misbehaves: 500s, hangs and outages under load
//! fail no request and keep the last member set; the dump file carries the set across a
//! restart with Consul down; `strong_dependency` refuses to start without Consul.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::common::consul::ConsulDouble;
use crate::common::dist::{kv_key, servers_line, Client, DistConfig};
use crate::common::edge::Edge;
use crate::common::origin::Origin;
use crate::common::{free_addr, wait_until};

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
    wait_until(&format!("{n} watch failures on {what}"), BOUND, || {
        watch_failures(edge) >= start + n
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
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
    let edge = Edge::start(&cfg.render());
    let load = Load::start(edge.addr());

    for (fault, name) in [(0, "500s"), (1, "a hang"), (2, "an outage")] {
        let before = (load.ok_from(a.addr.port()), load.ok_from(b.addr.port()));
        match fault {
            0 => consul.fail_with_500(true),
            1 => consul.hang(true),
            _ => consul.stop(),
        }
        wait_failures(&edge, 2, name);
        // The last set is kept: both members still get traffic during the fault.
        wait_until(
            &format!("traffic to both members during {name}"),
            BOUND,
            || {
                load.ok_from(a.addr.port()) > before.0 + 5
                    && load.ok_from(b.addr.port()) > before.1 + 5
            },
        )
        .unwrap();
        match fault {
            0 => consul.fail_with_500(false),
            1 => consul.hang(false),
            _ => consul.restart(),
        }
    }

    // Back: changes apply again.
    consul.put(&kv_key(c.addr), "");
    wait_until(
        "traffic to the member added after the outage",
        BOUND,
        || load.ok_from(c.addr.port()) > 0,
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));

    // An empty prefix is a failed-looking read: the last set stays (allow_empty is off).
    let reads = consul.requests();
    for o in [&a, &b, &c] {
        consul.delete(&kv_key(o.addr));
    }
    wait_until("3 more Consul reads", BOUND, || {
        consul.requests() >= reads + 3
    })
    .unwrap();
    let hits: Vec<usize> = [&a, &b, &c].iter().map(|o| o.hits()).collect();
    wait_until("traffic to every last member", BOUND, || {
        [&a, &b, &c]
            .iter()
            .zip(&hits)
            .all(|(o, h)| o.hits() > h + 3)
    })
    .unwrap();

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
    let dead = free_addr();
    let cfg = DistConfig::new()
        .group(&servers_line(&[dead]))
        .group("connect_timeout = \"500ms\"")
        .consul(
            &consul.url(),
            &[&format!("dump_file = \"{}\"", dump.display())],
        );

    let first = Edge::start(&cfg.render());
    let written = || std::fs::read_to_string(&dump).unwrap_or_default();
    wait_until("both members in the dump file", BOUND, || {
        written().contains(&a.addr.to_string()) && written().contains(&b.addr.to_string())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", written()));
    drop(first);
    consul.stop();

    let second = Edge::start(&cfg.render());
    let ports = Client::new(second.addr()).ports("/from-dump", 30);
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
    let mut first = Edge::spawn_in(dir, "edgeproxy", &cfg.render(), &[]);
    let status = first
        .wait_exit(BOUND)
        .unwrap_or_else(|e| panic!("edgeproxy kept running without its strong dependency: {e}"));
    let stderr = first.stderr();
    assert!(!status.success(), "exit status {status}");
    assert!(
        stderr.contains("Consul is a strong dependency") && stderr.contains("group `app`"),
        "{stderr}"
    );

    // Control: with Consul up the same config starts and serves.
    consul.restart();
    let edge = Edge::start(&cfg.render());
    assert_eq!(Client::new(edge.addr()).get("/").0, 200);
}
