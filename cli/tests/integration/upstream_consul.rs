//! The Consul watcher against the KV double over real HTTP.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::common::consul::ConsulDouble;
use crate::common::eventually;
use edgeproxy::upstream::{
    initial_members, BalanceSpec, ConsulError, ConsulSpec, ConsulWatcher, GroupSpec, ServerSpec,
    Timeouts, UpstreamGroup, WatchStatus,
};

const PREFIX: &str = "upstreams/app/";

fn seed() -> ServerSpec {
    ServerSpec {
        addr: "10.9.9.9:80".parse().unwrap(),
        weight: 1,
        max_fails: 2,
        fail_timeout: Duration::from_secs(10),
        down: false,
        backup: false,
    }
}

fn spec(address: &str, dump: Option<PathBuf>) -> GroupSpec {
    let t = Duration::from_secs(1);
    GroupSpec {
        name: "app".into(),
        servers: vec![seed()],
        balance: BalanceSpec::RoundRobin,
        timeouts: Timeouts {
            connect: t,
            read: t,
            write: t,
            idle: t,
        },
        retries: 1,
        consul: Some(ConsulSpec {
            address: address.to_string(),
            prefix: PREFIX.into(),
            token: Some("s3cret".into()),
            wait: Duration::from_secs(1),
            max_backoff: Duration::from_millis(400),
            dump_file: dump,
            strong_dependency: false,
        }),
        ..GroupSpec::new("app", Vec::new())
    }
}

/// Members as "addr/weight" strings, sorted.
fn members(g: &UpstreamGroup) -> Vec<String> {
    let mut v: Vec<String> = g
        .members()
        .iter()
        .map(|s| format!("{}/{}", s.addr, s.weight))
        .collect();
    v.sort();
    v
}

/// How long a change may take to show.
const BOUND: Duration = Duration::from_secs(15);

struct Running {
    group: Arc<UpstreamGroup>,
    status: Arc<WatchStatus>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start(spec: GroupSpec) -> Running {
    let (m, index) = initial_members(&spec).await.unwrap();
    let group = Arc::new(UpstreamGroup::new(spec));
    group.set_members(m);
    let w = ConsulWatcher::new(group.clone(), index).unwrap();
    let status = w.status();
    Running {
        group,
        status,
        task: tokio::spawn(w.run()),
    }
}

fn key(addr: &str) -> String {
    format!("{PREFIX}{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn put_delete_and_weight_change_are_applied() {
    let c = ConsulDouble::start();
    c.require_token(Some("s3cret"));
    c.put(PREFIX, ""); // the folder key itself is ignored
    c.put(&key("127.0.0.1:8001"), "");
    let r = start(spec(&c.url(), None)).await;
    assert_eq!(members(&r.group), ["127.0.0.1:8001/1"]);

    c.put(
        &key("127.0.0.1:8002"),
        r#"{"weight":3,"max_fails":2,"fail_timeout":10}"#,
    );
    eventually("node added", BOUND, || async {
        members(&r.group).len() == 2
    })
    .await
    .unwrap();
    assert_eq!(members(&r.group), ["127.0.0.1:8001/1", "127.0.0.1:8002/3"]);

    c.put(&key("127.0.0.1:8002"), r#"{"weight":5}"#);
    eventually("weight changed", BOUND, || async {
        members(&r.group).contains(&"127.0.0.1:8002/5".into())
    })
    .await
    .unwrap();

    c.delete(&key("127.0.0.1:8001"));
    eventually("node removed", BOUND, || async {
        members(&r.group) == ["127.0.0.1:8002/5"]
    })
    .await
    .unwrap();

    let s = r.status.snapshot();
    assert_eq!(s.consecutive_errors, 0);
    assert_eq!(s.changes, 3);
    assert_eq!(s.members, 1);
    assert!(s.last_index >= c.index(PREFIX));

    // a blocking query that returns without change is not re-applied
    let changes = s.changes;
    let before = c.requests();
    eventually("idle wait returned", BOUND, || async {
        c.requests() >= before + 2
    })
    .await
    .unwrap();
    assert_eq!(r.status.snapshot().changes, changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_read_is_plain_and_index_zero_is_never_a_wait() {
    let c = ConsulDouble::start();
    // empty prefix: 404 with an index
    let r = start(spec(&c.url(), None)).await;
    assert_eq!(
        members(&r.group),
        ["10.9.9.9:80/1"],
        "seed kept on empty prefix"
    );
    c.put(&key("127.0.0.1:8001"), "");
    eventually("node added", BOUND, || async {
        members(&r.group) == ["127.0.0.1:8001/1"]
    })
    .await
    .unwrap();
    let queries = c.queries();
    assert_eq!(queries[0], "recurse", "first read is plain");
    for q in &queries {
        assert!(!q.contains("index=0"), "waited on index 0: {q}");
        if q.contains("index=") {
            assert!(q.contains("wait=1s"), "{q}");
        }
    }
    let q = c.last_query().unwrap();
    assert!(q["index"].parse::<u64>().unwrap() >= 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_keep_last_set_and_recover() {
    let c = ConsulDouble::start();
    c.put(&key("127.0.0.1:8001"), "");
    let r = start(spec(&c.url(), None)).await;
    let good = vec!["127.0.0.1:8001/1".to_string()];

    // 500s
    c.fail_with_500(true);
    c.put(&key("127.0.0.1:8002"), ""); // wakes the blocked query, which now fails
    eventually("500s counted", BOUND, || async {
        r.status.snapshot().consecutive_errors >= 2
    })
    .await
    .unwrap();
    assert_eq!(members(&r.group), good);
    assert!(r.status.snapshot().last_error.unwrap().contains("500"));
    c.fail_with_500(false);
    eventually("recovered from 500s", BOUND, || async {
        members(&r.group).len() == 2
    })
    .await
    .unwrap();
    assert_eq!(r.status.snapshot().consecutive_errors, 0);

    // hang: the HTTP call times out a little after `wait`
    c.hang(true);
    let errors = r.status.snapshot().total_errors;
    eventually("hang counted", BOUND, || async {
        r.status.snapshot().total_errors > errors
    })
    .await
    .unwrap();
    assert_eq!(members(&r.group).len(), 2);
    c.hang(false);
    c.delete(&key("127.0.0.1:8002"));
    eventually("recovered from hang", BOUND, || async {
        members(&r.group) == good
    })
    .await
    .unwrap();

    // stopped
    c.stop();
    eventually("refused counted", BOUND, || async {
        r.status.snapshot().consecutive_errors >= 2
    })
    .await
    .unwrap();
    assert_eq!(members(&r.group), good);
    c.put(&key("127.0.0.1:8003"), "");
    c.restart();
    eventually("recovered after restart", BOUND, || async {
        members(&r.group).len() == 2
    })
    .await
    .unwrap();
    assert!(r.status.snapshot().total_errors >= 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn index_going_backwards_resets_the_watch() {
    let c = ConsulDouble::start();
    for p in 1..=5 {
        c.put(&key(&format!("127.0.0.1:800{p}")), "");
    }
    let r = start(spec(&c.url(), None)).await;
    assert_eq!(members(&r.group).len(), 5);
    let high = r.status.snapshot().last_index;
    c.reset_index();
    c.put(&key("127.0.0.1:8009"), r#"{"weight":2}"#);
    assert!(c.index(PREFIX) < high);
    eventually("change after reset seen", BOUND, || async {
        members(&r.group).len() == 6
    })
    .await
    .unwrap();
    assert!(r.status.snapshot().last_index < high);
    c.put(&key("127.0.0.1:8010"), "");
    eventually("watch continues", BOUND, || async {
        members(&r.group).len() == 7
    })
    .await
    .unwrap();
    assert!(!c.queries().iter().any(|q| q.contains("index=0")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_value_skips_only_that_node() {
    let c = ConsulDouble::start();
    c.put(&key("127.0.0.1:8001"), r#"{"weight":2}"#);
    c.put(&key("127.0.0.1:8002"), "{not json");
    c.put(&key("not-an-ip:80"), "");
    c.put(&key("127.0.0.1:8003"), r#"{"weight":-4}"#);
    let r = start(spec(&c.url(), None)).await;
    assert_eq!(members(&r.group), ["127.0.0.1:8001/2"]);
    c.put(&key("127.0.0.1:8002"), r#"{"weight":1}"#);
    eventually("fixed node added", BOUND, || async {
        members(&r.group).len() == 2
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_read_applied_only_with_allow_empty() {
    let c = ConsulDouble::start();
    c.put(&key("127.0.0.1:8001"), "");
    let strict = start(spec(&c.url(), None)).await;
    let mut s = spec(&c.url(), None);
    s.allow_empty = true;
    let lax = start(s).await;
    c.delete(&key("127.0.0.1:8001"));
    eventually("lax emptied", BOUND, || async {
        lax.group.members().is_empty()
    })
    .await
    .unwrap();
    eventually("strict saw the change", BOUND, || async {
        strict.status.snapshot().last_index >= c.index(PREFIX)
    })
    .await
    .unwrap();
    assert_eq!(members(&strict.group), ["127.0.0.1:8001/1"]);
    let none: &[SocketAddr] = &[];
    assert!(lax.group.select(None, none).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dump_file_written_on_change_and_loaded_when_consul_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("app.dump");
    let c = ConsulDouble::start();
    c.put(&key("127.0.0.1:8001"), r#"{"weight":4,"down":1}"#);
    let r = start(spec(&c.url(), Some(dump.clone()))).await;
    let text = std::fs::read_to_string(&dump).unwrap();
    assert!(
        text.contains("server 127.0.0.1:8001 weight=4 max_fails=2 fail_timeout=10s down;"),
        "{text}"
    );
    c.put(&key("127.0.0.1:8002"), "");
    eventually("dump updated", BOUND, || async {
        std::fs::read_to_string(&dump).is_ok_and(|t| t.contains("127.0.0.1:8002"))
    })
    .await
    .unwrap();
    drop(r);
    let url = c.url();
    drop(c); // Consul gone

    let (m, index) = initial_members(&spec(&url, Some(dump.clone())))
        .await
        .unwrap();
    assert_eq!(index, 0);
    let addrs: Vec<String> = m.iter().map(|s| s.addr.to_string()).collect();
    assert_eq!(addrs, ["127.0.0.1:8001", "127.0.0.1:8002"]);
    assert!(m[0].down && m[0].weight == 4);

    // no dump file: static seed servers
    let (m, _) = initial_members(&spec(&url, Some(dir.path().join("none"))))
        .await
        .unwrap();
    assert_eq!(m, vec![seed()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_dump_file_delays_no_member_change() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("app.dump");
    let c = ConsulDouble::start();
    c.put(&key("127.0.0.1:8001"), "");
    let r = start(spec(&c.url(), Some(dump.clone()))).await;
    // A disk that never finishes: a FIFO nobody writes to blocks whoever reads it.
    std::fs::remove_file(&dump).unwrap();
    let made = std::process::Command::new("mkfifo").arg(&dump).status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");

    c.put(&key("127.0.0.1:8002"), "");
    let applied = eventually("first change applied", BOUND, || async {
        members(&r.group).len() == 2
    })
    .await;
    c.put(&key("127.0.0.1:8003"), "");
    let applied_again = eventually("second change applied", BOUND, || async {
        members(&r.group).len() == 3
    })
    .await;

    // Unstick the writer (it reads the old dump first): open the FIFO for writing, close.
    let unstick = tokio::task::spawn_blocking({
        let dump = dump.clone();
        move || std::fs::OpenOptions::new().write(true).open(dump).map(drop)
    });
    tokio::time::timeout(BOUND, unstick).await.ok();
    applied.unwrap();
    applied_again.unwrap();
    eventually("dump written once the disk answers", BOUND, || async {
        // Never read the FIFO itself (that would block): wait for the renamed file.
        dump.is_file() && std::fs::read_to_string(&dump).is_ok_and(|t| t.contains("127.0.0.1:8003"))
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strong_dependency_refuses_to_start_without_consul() {
    let c = ConsulDouble::start();
    let url = c.url();
    c.fail_with_500(true);
    let mut s = spec(&url, None);
    s.consul.as_mut().unwrap().strong_dependency = true;
    let err = initial_members(&s).await.unwrap_err();
    assert!(matches!(err, ConsulError::StrongDependency { .. }));
    let msg = err.to_string();
    assert!(
        msg.contains("strong dependency") && msg.contains("500"),
        "{msg}"
    );
    c.fail_with_500(false);
    assert!(initial_members(&s).await.is_ok());
    drop(c);
    let msg = initial_members(&s).await.unwrap_err().to_string();
    assert!(msg.contains("cannot reach Consul"), "{msg}");
}
