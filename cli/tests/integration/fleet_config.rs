//! The fleet's configuration in Consul KV (docs/fleet.md), with the real binary and the
//! Consul double: `edgeproxy config push` checks and publishes, nodes apply each version in
//! place and report it, canary → promote → rollback, a version one node cannot run, two
//! pushes from the same base, and Consul down (nodes keep their version; a node restarted
//! while it is down starts on its last applied version).

use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use crate::common::consul::ConsulDouble;
use crate::common::edge::{binary, Edge, ANY_PORT};

const PREFIX: &str = "fleet";

/// A node's bootstrap file: the fleet source, and the same listeners and admin route as
/// every version (listeners cannot change in place).
pub(crate) fn bootstrap(consul: &str, name: &str, tags: &[&str]) -> String {
    let tags: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        "[server]\nnode_name = \"{name}\"\npid_file = \"{{dir}}/edge.pid\"\nupgrade_sock = \"{{dir}}/edge.sock\"\n\
         config_source = {{ consul = {{ address = \"{consul}\", prefix = \"{PREFIX}\", wait = \"1s\", max_backoff = \"200ms\", state_dir = \"{{dir}}/fleet\", tags = [{}] }} }}\n\n{}",
        tags.join(", "),
        body("bootstrap")
    )
}

/// The servers of a version answering `text` on `/`, with `/status/config`.
fn body(text: &str) -> String {
    format!(
        "[[servers]]\nname = \"web\"\nlisten = [\"{ANY_PORT}\"]\n\n[[servers.routes]]\npath = \"/status/config\"\nplugins = [{{ name = \"config-status\" }}]\n\n\
         [[servers.routes]]\npath_prefix = \"/\"\nplugins = [{{ name = \"respond\", config = {{ file = \"body.txt\" }} }}]\n\n# {text}\n"
    )
}

/// A version directory: the document and `body.txt` = `text`.
pub(crate) fn version_dir(text: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let doc = format!("\n{}", body(text));
    std::fs::write(dir.path().join("edgeproxy.toml"), doc).unwrap();
    std::fs::write(dir.path().join("body.txt"), text).unwrap();
    dir
}

/// Replaces `from` with `to` in a version directory's document.
fn edit(dir: &tempfile::TempDir, from: &str, to: &str) -> std::path::PathBuf {
    let doc = dir.path().join("edgeproxy.toml");
    let text = std::fs::read_to_string(&doc).unwrap();
    assert!(text.contains(from), "{from:?} not in the version");
    std::fs::write(&doc, text.replace(from, to)).unwrap();
    doc
}

fn config(consul: &ConsulDouble, args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .arg("config")
        .args(args)
        .args(["--consul", &consul.url(), "--prefix", PREFIX])
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

pub(crate) fn push(consul: &ConsulDouble, dir: &Path, extra: &[&str]) -> Output {
    let mut args = vec!["push", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    config(consul, &args, &[])
}

pub(crate) fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "stdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn node(consul: &ConsulDouble, name: &str, tags: &[&str]) -> Edge {
    start_node(&bootstrap(&consul.url(), name, tags))
}

/// Starts a node on bootstrap file `cfg` (whose `body.txt` says "bootstrap").
pub(crate) fn start_node(cfg: &str) -> Edge {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body.txt"), "bootstrap").unwrap();
    Edge::start_in(dir, "edgeproxy", cfg)
}

pub(crate) fn answer(edge: &Edge) -> String {
    crate::common::client()
        .get(format!("http://{}/", edge.addr()))
        .send()
        .and_then(|r| r.text())
        .unwrap_or_default()
}

/// Waits (bounded) until `edge` answers `text`; fails with its log otherwise.
fn serves(edge: &Edge, text: &str) {
    assert!(
        answers_within(edge, text, Duration::from_secs(5)),
        "never answered {text:?} (answers {:?}):\n{}",
        answer(edge),
        edge.stderr()
    );
}

/// True once `edge` answers `text`, within `within`.
pub(crate) fn answers_within(edge: &Edge, text: &str, within: Duration) -> bool {
    let end = Instant::now() + within;
    while Instant::now() < end {
        if answer(edge) == text {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

fn status_of(consul: &ConsulDouble, node: &str) -> serde_json::Value {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let s = consul
            .value(&format!("{PREFIX}/status/{node}"))
            .and_then(|v| serde_json::from_str(&v).ok());
        if let Some(s) = s {
            return s;
        }
        assert!(Instant::now() < end, "{node} never reported a status");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until `node`'s status says `version` with `result`.
fn reports(consul: &ConsulDouble, node: &str, version: u64, result: &str) -> serde_json::Value {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let s = status_of(consul, node);
        if s["version"] == version && s["result"] == result {
            return s;
        }
        assert!(Instant::now() < end, "{node}: {s}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Requests `edges` in a loop until `stop`; returns (requests, failures).
fn load(
    addrs: Vec<std::net::SocketAddr>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let client = crate::common::client();
        let (mut n, mut failed) = (0, Vec::new());
        while !stop.load(std::sync::atomic::Ordering::SeqCst) {
            for a in &addrs {
                n += 1;
                match client.get(format!("http://{a}/")).send() {
                    Ok(r) if r.status() == 200 => {}
                    Ok(r) => failed.push(format!("{a}: {}", r.status())),
                    Err(e) => failed.push(format!("{a}: {e}")),
                }
            }
        }
        (n, failed)
    })
}

#[test]
fn a_push_is_checked_then_applied_in_place_on_every_node() {
    let consul = ConsulDouble::start();
    let (a, b) = (node(&consul, "node-a", &[]), node(&consul, "node-b", &[]));
    let c = node(&consul, "node-c", &[]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let traffic = load(vec![a.addr(), b.addr(), c.addr()], stop.clone());
    // Nothing published: the nodes run their bootstrap file and report version 0.
    assert_eq!(answer(&a), "bootstrap");
    reports(&consul, "node-a", 0, "applied");
    let pids = (a.child.id(), b.child.id());

    let v1 = version_dir("one");
    let out = ok(&push(&consul, v1.path(), &["--note", "first"]));
    let pushed = Instant::now();
    assert!(out.contains("version 1 published"), "{out}");
    serves(&a, "one");
    serves(&b, "one");
    serves(&c, "one");
    eprintln!("push to in force on three nodes: {:?}", pushed.elapsed());
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let (requests, failed) = traffic.join().unwrap();
    assert!(
        failed.is_empty() && requests > 0,
        "{requests} requests, failed: {failed:?}"
    );
    reports(&consul, "node-a", 1, "applied");
    reports(&consul, "node-b", 1, "applied");
    assert_eq!((a.child.id(), b.child.id()), pids, "applied in place");
    let status: serde_json::Value = crate::common::client()
        .get(format!("http://{}/status/config", a.addr()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(status["fleet"]["version"], 1, "{status}");

    // A config error is refused at push time with FILE:LINE:COL; nothing changes.
    let bad = version_dir("bad");
    let doc = edit(&bad, "path_prefix", "path_prefx");
    let before = consul.value(&format!("{PREFIX}/live/current"));
    let out = push(&consul, bad.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("{}:", doc.display())) && err.contains("path_prefx"),
        "{err}"
    );
    assert!(err.contains(":11:1: error"), "{err}");
    assert_eq!(consul.value(&format!("{PREFIX}/live/current")), before);

    // `config diff` shows what would change; `config status` shows both nodes.
    let v2 = version_dir("two");
    let diff = ok(&config(
        &consul,
        &["diff", v2.path().to_str().unwrap()],
        &[],
    ));
    assert!(
        diff.contains("changed  body.txt") && diff.contains("-one") && diff.contains("+two"),
        "{diff}"
    );
    let table = ok(&config(&consul, &["status"], &[]));
    assert!(
        table.contains("current: version 1")
            && table.contains("node-a")
            && table.contains("node-b"),
        "{table}"
    );

    // `-s reload` with the bootstrap file re-reads the version in force, in place.
    let out = Command::new(binary())
        .args(["-s", "reload", "-c"])
        .arg(a.path("edgeproxy.toml"))
        .output()
        .unwrap();
    let said = ok(&out);
    assert!(said.contains("reloaded in place"), "{said}");
    assert_eq!(answer(&a), "one");
    assert_eq!(a.child.id(), pids.0);
}

#[test]
fn canary_promote_rollback_and_a_version_one_node_cannot_run() {
    let consul = ConsulDouble::start();
    let a = node(&consul, "node-a", &["canary"]);
    let b = node(&consul, "node-b", &[]);
    ok(&push(&consul, version_dir("one").path(), &[]));
    serves(&a, "one");
    serves(&b, "one");

    ok(&push(
        &consul,
        version_dir("two").path(),
        &["--canary", "canary"],
    ));
    serves(&a, "two");
    reports(&consul, "node-a", 2, "applied");
    assert_eq!(answer(&b), "one", "the canary targets node-a only");
    let table = ok(&config(&consul, &["status"], &[]));
    assert!(table.contains("canary:  version 2 for canary"), "{table}");

    ok(&config(&consul, &["promote"], &[]));
    serves(&b, "two");
    reports(&consul, "node-b", 2, "applied");

    let out = ok(&config(&consul, &["rollback"], &[]));
    assert!(out.contains("version 3 (the files of version 1)"), "{out}");
    serves(&a, "one");
    serves(&b, "one");
    reports(&consul, "node-a", 3, "applied");

    // A version that needs what only the pushing machine has (an environment variable)
    // fails on the nodes: each keeps version 3 and says why.
    let needs_env = version_dir("four");
    edit(
        &needs_env,
        "plugins = [{ name = \"config-status\" }]",
        "plugins = [{ name = \"admin-token\", config = { token_env = \"FLEET_ONLY_HERE\" } }, { name = \"config-status\" }]",
    );
    ok(&config(
        &consul,
        &["push", needs_env.path().to_str().unwrap()],
        &[("FLEET_ONLY_HERE", "x")],
    ));
    let s = reports(&consul, "node-b", 3, "refused");
    assert_eq!(s["refused"]["version"], 4, "{s}");
    assert!(
        s["refused"]["error"]
            .as_str()
            .unwrap_or("")
            .contains("FLEET_ONLY_HERE"),
        "{s}"
    );
    assert_eq!(answer(&b), "one");
    let table = ok(&config(&consul, &["status"], &[]));
    assert!(table.contains("version 4 refused"), "{table}");
}

#[test]
fn two_pushes_from_the_same_base_one_wins() {
    let consul = ConsulDouble::start();
    ok(&push(&consul, version_dir("one").path(), &[]));
    consul.delay_txn(Duration::from_millis(600));
    let dirs = [version_dir("x"), version_dir("y")];
    let (url, p) = (consul.url(), PREFIX);
    let children: Vec<_> = dirs
        .iter()
        .map(|d| {
            Command::new(binary())
                .args([
                    "config",
                    "push",
                    d.path().to_str().unwrap(),
                    "--consul",
                    &url,
                    "--prefix",
                    p,
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outs: Vec<Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let won = outs.iter().filter(|o| o.status.success()).count();
    assert_eq!(won, 1, "{outs:?}");
    let lost = outs.iter().find(|o| !o.status.success()).unwrap();
    assert!(
        String::from_utf8_lossy(&lost.stderr).contains("changed since it was read"),
        "{lost:?}"
    );
}

#[test]
fn consul_down_keeps_versions_and_a_restarted_node_starts_on_its_last_version() {
    let consul = ConsulDouble::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().to_path_buf();
    let cfg = bootstrap(&consul.url(), "node-a", &[])
        .replace("{dir}/fleet", &format!("{}/fleet", state.display()));
    let a = start_node(&cfg);
    ok(&push(&consul, version_dir("one").path(), &[]));
    serves(&a, "one");
    consul.fail_with_500(true);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        answer(&a),
        "one",
        "Consul failing: the version in force keeps serving"
    );
    drop(a);
    let b = start_node(&cfg);
    assert_eq!(
        answer(&b),
        "one",
        "restarted while Consul is down: the last applied version"
    );
    consul.fail_with_500(false);
    ok(&push(&consul, version_dir("two").path(), &[]));
    serves(&b, "two"); // "back in step once Consul answers"

    // Consul hanging, then restarted with its indexes reset: the node follows again.
    consul.hang(true);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(answer(&b), "two");
    consul.hang(false);
    consul.reset_index();
    ok(&push(&consul, version_dir("three").path(), &[]));
    serves(&b, "three");

    // With strong_dependency the node refuses to start while Consul cannot be read.
    consul.fail_with_500(true);
    let strict = cfg.replace("wait = \"1s\"", "wait = \"1s\", strong_dependency = true");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("body.txt"), "bootstrap").unwrap();
    let mut edge = Edge::spawn_in(dir, "edgeproxy", &strict, &[]);
    let code = edge.wait_exit(Duration::from_secs(15)).unwrap();
    assert_eq!(code.code(), Some(1));
    assert!(
        edge.stderr().contains("strong dependency"),
        "{}",
        edge.stderr()
    );
}

#[test]
fn a_canary_that_raises_5xx_is_withdrawn_and_a_good_one_promoted() {
    let consul = ConsulDouble::start();
    let a = node(&consul, "node-a", &["canary"]);
    let b = node(&consul, "node-b", &[]);
    ok(&push(&consul, version_dir("one").path(), &[]));
    serves(&a, "one");
    serves(&b, "one");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    // Traffic on the canary node (failures are what is being judged, not asserted).
    let traffic = load(vec![a.addr()], stop.clone());

    let broken = version_dir("broken");
    edit(
        &broken,
        "config = { file = \"body.txt\" }",
        "config = { status = 503, file = \"body.txt\" }",
    );
    let canary = ["--canary", "canary", "--promote-after", "4s"];
    let out = push(&consul, broken.path(), &canary);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("withdrawn") && err.contains("5xx share"),
        "{err}"
    );
    serves(&a, "one");
    assert_eq!(answer(&b), "one");

    let out = ok(&push(&consul, version_dir("good").path(), &canary));
    assert!(out.contains("is now current on every node"), "{out}");
    serves(&b, "good");
    serves(&a, "good");
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = traffic.join();
}
