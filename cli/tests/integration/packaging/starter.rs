//! The production starter config as shipped (`pkg/edgeproxy.toml`), with only its machine
//! paths moved into a temp dir and its ports left to the OS: it validates, serves its
//! welcome page and the admin routes, reloads in place with `-s reload`, and the shipped
//! logrotate snippet (same paths moved) rotates its error and access logs, which the
//! process reopens on the snippet's SIGUSR1.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::{pkg, read, run_ok};
use crate::common::edge::{binary, Edge};
use crate::common::{client, wait_until};

/// `text` (starter config or logrotate snippet) with its machine paths under `dir` and its
/// listeners on ports the OS picks. The error log is the file the harness reads
/// (stderr.log), so it sees the process start.
fn moved(text: &str, dir: &str) -> String {
    text.replace("/var/log/edgeproxy/error.log", &format!("{dir}/stderr.log"))
        .replace("/var/log/edgeproxy", dir)
        .replace("/run/edgeproxy", dir)
        .replace("0.0.0.0:80", "127.0.0.1:0")
        .replace("127.0.0.1:9901", "127.0.0.1:0")
}

fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().expect("send");
    (r.status().as_u16(), r.text().expect("body"))
}

fn wait_for_line(path: &Path, needle: &str) {
    wait_until(
        &format!("{needle:?} in {}", path.display()),
        Duration::from_secs(10),
        || std::fs::read_to_string(path).is_ok_and(|t| t.contains(needle)),
    )
    .unwrap();
}

#[test]
fn starter_config_serves_reloads_and_reopens_its_logs_after_logrotate() {
    let starter = read(&pkg("edgeproxy.toml"));
    let edge = Edge::start(&moved(&starter, "{dir}"));
    let dir = edge.dir.path().display().to_string();
    let [site, admin] = edge.listening();
    let conf = edge.path("edgeproxy.toml");
    // The control socket (beside the pid file) may come up after the listeners.
    let ctl = edge.path("edgeproxy.ctl");
    wait_until("the control socket", Duration::from_secs(10), || {
        ctl.exists()
    })
    .unwrap();
    let out = run_ok(Command::new(binary()).arg("-t").arg("-c").arg(&conf));
    assert!(String::from_utf8_lossy(&out.stdout).contains("configuration is valid"));

    let (status, body) = get(&format!("http://{site}/any/path"));
    assert_eq!(status, 200);
    assert!(
        body.starts_with("edgeproxy is installed and serving."),
        "{body}"
    );
    for path in ["/metrics", "/status/upstreams", "/status/config"] {
        assert_eq!(get(&format!("http://{admin}{path}")).0, 200, "{path}");
    }
    let access = edge.path("access.log");
    wait_for_line(&access, "\"GET /any/path HTTP/1.1\" 200");

    // Reload in place, as `systemctl reload` does.
    let edited =
        moved(&starter, &dir).replace("edgeproxy is installed and serving.", "edited site");
    std::fs::write(&conf, edited).expect("edit");
    let out = run_ok(
        Command::new(binary())
            .args(["-s", "reload", "-c"])
            .arg(&conf),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("reloaded in place"));
    assert!(get(&format!("http://{site}/")).1.starts_with("edited site"));

    // The shipped logrotate snippet, forced, against this process's paths.
    let rotate_conf = edge.path("logrotate.conf");
    std::fs::write(
        &rotate_conf,
        moved(&read(&pkg("edgeproxy.logrotate")), &dir),
    )
    .expect("write");
    run_ok(
        Command::new("logrotate")
            .arg("-f")
            .arg("-s")
            .arg(edge.path("logrotate.state"))
            .arg(&rotate_conf),
    );
    let rotated = read(&edge.path("access.log.1"));
    assert!(rotated.contains("GET /any/path"), "{rotated}");
    assert!(read(&edge.path("stderr.log.1")).contains("edgeproxy running"));
    // Reopened: the next lines go to the new files.
    wait_for_line(&edge.path("stderr.log"), "SIGUSR1: error log reopened");
    assert_eq!(get(&format!("http://{site}/after-rotate")).0, 200);
    wait_for_line(&access, "\"GET /after-rotate HTTP/1.1\" 200");
    assert!(!read(&edge.path("access.log.1")).contains("after-rotate"));
}
