//! The Debian package installed on this machine, as an operator would use it: `dpkg -i`,
//! `edgeproxy -t` on the installed config, the service started as the unit starts it (by
//! systemd where it runs; else the unit's own Exec lines run as its User with its
//! AmbientCapabilities, through setpriv), a request served on port 80 by the unprivileged
//! user, `-s reload` of an edited config, the shipped logrotate snippet forced, a
//! reinstall that keeps the edit, `dpkg -r` that keeps it, `dpkg -P` that removes it.
//!
//! It changes the machine (the package, the `edgeproxy` user, which stays), so it runs only
//! when asked: `make deb-e2e` (EDGEPROXY_DEB_E2E=1, as root, ports 80 and 9901 free;
//! EDGEPROXY_DEB = the `make deb` output, else a package of this build's binary).

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::deb::build_deb;
use super::{read, run_ok, unit_value};
use crate::common::{client, wait_until};

const CONF: &str = "/etc/edgeproxy/edgeproxy.toml";
const PID_FILE: &str = "/run/edgeproxy/edgeproxy.pid";
const UNIT: &str = "/usr/lib/systemd/system/edgeproxy.service";
const LOGS: &str = "/var/log/edgeproxy";

/// Why this machine cannot run the test now, if it cannot.
fn refusal() -> Option<String> {
    if std::env::var("EDGEPROXY_DEB_E2E").as_deref() != Ok("1") {
        return Some("EDGEPROXY_DEB_E2E=1 not set".into());
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("not root".into());
    }
    let status = Command::new("dpkg-query")
        .args(["-W", "-f=${Status}", "edgeproxy"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if status.contains("installed") {
        return Some(format!(
            "package edgeproxy already here ({status}): not touching it"
        ));
    }
    for addr in ["0.0.0.0:80", "127.0.0.1:9901"] {
        if TcpListener::bind(addr).is_err() {
            return Some(format!("{addr} (the starter config's) is taken"));
        }
    }
    None
}

/// Runs the rest of the test on drop too: the service stopped, the package purged.
struct Cleanup;

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(pid) = pid() {
            // SAFETY: a plain signal to a process this test started.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = Command::new("dpkg").args(["-P", "edgeproxy"]).output();
        let _ = std::fs::remove_dir_all("/run/edgeproxy");
    }
}

fn pid() -> Option<i32> {
    std::fs::read_to_string(PID_FILE).ok()?.trim().parse().ok()
}

fn systemd() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// `key`'s command line of the installed unit, run as the unit runs it: its User and Group
/// with only CAP_NET_BIND_SERVICE, ambient (AmbientCapabilities=).
fn unit_command(key: &str) -> Command {
    let unit = read(Path::new(UNIT));
    let user = unit_value(&unit, "User").to_string();
    let group = unit_value(&unit, "Group").to_string();
    let caps = unit_value(&unit, "AmbientCapabilities").to_lowercase();
    let cap = caps.trim_start_matches("cap_");
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={user}"))
        .arg(format!("--regid={group}"))
        .arg("--init-groups")
        .arg(format!("--inh-caps=+{cap}"))
        .arg(format!("--ambient-caps=+{cap}"))
        .args(unit_value(&unit, key).split_whitespace());
    cmd
}

/// `systemctl ACTION edgeproxy` where systemd runs, else the unit's command for it.
fn service(action: &str, key: &str) -> String {
    let out = match systemd() {
        true => run_ok(Command::new("systemctl").args([action, "edgeproxy"])),
        false => run_ok(&mut unit_command(key)),
    };
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Starts the service. Without systemd: the unit's ExecStart (`-d`), its output to files
/// (as systemd gives it the journal): the background process keeps what it inherits
/// open, so a pipe would never see its end.
fn start(tmp: &Path) {
    if systemd() {
        service("start", "ExecStart");
        return;
    }
    let file = |name: &str| std::fs::File::create(tmp.join(name)).expect("create");
    let status = unit_command("ExecStart")
        .stdout(file("start.out"))
        .stderr(file("start.err"))
        .status()
        .expect("run ExecStart");
    let said = read(&tmp.join("start.err"));
    assert!(status.success(), "ExecStart failed ({status}):\n{said}");
}

fn uid_of(user: &str) -> u32 {
    let out = run_ok(Command::new("id").args(["-u", user]));
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("uid")
}

fn get(url: &str) -> (u16, String) {
    let r = client().get(url).send().expect("send");
    (r.status().as_u16(), r.text().expect("body"))
}

fn wait_for(what: &str, cond: impl FnMut() -> bool) {
    wait_until(what, Duration::from_secs(15), cond).unwrap_or_else(|e| panic!("{e}\n{}", logs()));
}

/// Every file in the log directory with its content, for failure messages.
fn logs() -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(LOGS).into_iter().flatten().flatten() {
        let text = std::fs::read(entry.path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&text);
        out.push_str(&format!("--- {}\n{text}\n", entry.path().display()));
    }
    out
}

fn the_deb(tmp: &Path) -> PathBuf {
    match std::env::var_os("EDGEPROXY_DEB").map(PathBuf::from) {
        Some(p) if p.is_dir() => std::fs::read_dir(&p)
            .expect("EDGEPROXY_DEB dir")
            .map(|e| e.expect("entry").path())
            .find(|p| p.extension().is_some_and(|e| e == "deb"))
            .expect("a .deb in EDGEPROXY_DEB (make deb)"),
        Some(p) => p,
        None => build_deb(tmp),
    }
}

#[test]
#[ignore = "installs the Debian package on this machine: make deb-e2e"]
fn debian_package_installs_serves_reloads_rotates_and_is_removed() {
    if let Some(why) = refusal() {
        eprintln!("skipped: {why}");
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let deb = the_deb(tmp.path());
    let _cleanup = Cleanup;
    run_ok(Command::new("dpkg").arg("-i").arg(&deb));

    // The user, its log directory, and a config that checks as installed.
    let uid = uid_of("edgeproxy");
    {
        use std::os::unix::fs::MetadataExt;
        assert_eq!(std::fs::metadata(LOGS).expect("log dir").uid(), uid);
    }
    run_ok(Command::new("/usr/bin/edgeproxy").args(["-t", "-c", CONF]));
    assert!(!Path::new(PID_FILE).exists(), "started on install");

    // Started as the service: RuntimeDirectory, then ExecStartPre and ExecStart.
    if !systemd() {
        std::fs::create_dir_all("/run/edgeproxy").expect("mkdir /run/edgeproxy");
        run_ok(Command::new("chown").args(["edgeproxy:edgeproxy", "/run/edgeproxy"]));
        service("start", "ExecStartPre");
    }
    start(tmp.path());
    let site: SocketAddr = "127.0.0.1:80".parse().expect("addr");
    // The control socket `-s reload` uses is bound by a background service that may come
    // up after the listeners.
    let ctl = Path::new(PID_FILE).with_extension("ctl");
    wait_for("the service to listen on :80", || {
        pid().is_some() && crate::common::port_open(site) && ctl.exists()
    });
    let status = read(&PathBuf::from(format!(
        "/proc/{}/status",
        pid().expect("pid")
    )));
    let uids = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .expect("Uid line");
    assert!(
        uids.split_whitespace()
            .skip(1)
            .all(|u| u == uid.to_string()),
        "{uids}"
    );
    let (code, body) = get("http://127.0.0.1/");
    assert_eq!(code, 200);
    assert!(
        body.starts_with("edgeproxy is installed and serving."),
        "{body}"
    );
    assert_eq!(get("http://127.0.0.1:9901/metrics").0, 200);

    // An edit, applied in place as `systemctl reload` does.
    let edited =
        read(Path::new(CONF)).replace("edgeproxy is installed and serving.", "edited site");
    std::fs::write(CONF, &edited).expect("edit the config");
    let said = service("reload", "ExecReload");
    assert!(systemd() || said.contains("reloaded in place"), "{said}");
    assert!(get("http://127.0.0.1/first").1.starts_with("edited site"));

    // The shipped logrotate snippet, forced: logs moved aside and reopened.
    let access = Path::new(LOGS).join("access.log");
    wait_for("the first request in access.log", || {
        std::fs::read_to_string(&access).is_ok_and(|t| t.contains("GET /first "))
    });
    let state = tmp.path().join("logrotate.state");
    run_ok(
        Command::new("logrotate")
            .arg("-f")
            .arg("-s")
            .arg(&state)
            .arg("/etc/logrotate.d/edgeproxy"),
    );
    assert!(read(&Path::new(LOGS).join("access.log.1")).contains("GET /first "));
    // Lines logged before the signal is handled still go to the moved file (as with nginx;
    // hence delaycompress): the reopen is logged to the new error log once it is done.
    let error_log = Path::new(LOGS).join("error.log");
    wait_for("the reopen in the new error.log", || {
        std::fs::read_to_string(&error_log).is_ok_and(|t| t.contains("SIGUSR1: error log reopened"))
    });
    assert_eq!(get("http://127.0.0.1/second").0, 200);
    wait_for("the next request in the new access.log", || {
        std::fs::read_to_string(&access).is_ok_and(|t| t.contains("GET /second "))
    });

    // A reinstall (as an upgrade does) keeps the edited conffile.
    run_ok(Command::new("dpkg").arg("-i").arg(&deb));
    assert_eq!(read(Path::new(CONF)), edited);

    // Stopped as the unit stops it.
    let running = pid().expect("pid");
    service("stop", "ExecStop");
    wait_for("the service to exit", || {
        // SAFETY: signal 0 only checks that the process exists.
        let alive = unsafe { libc::kill(running, 0) } == 0;
        !alive
    });

    // `dpkg -r` keeps the edited config, `dpkg -P` removes it and the logs.
    run_ok(Command::new("dpkg").args(["-r", "edgeproxy"]));
    assert!(!Path::new("/usr/bin/edgeproxy").exists());
    assert_eq!(read(Path::new(CONF)), edited);
    run_ok(Command::new("dpkg").args(["-P", "edgeproxy"]));
    assert!(
        !Path::new("/etc/edgeproxy").exists(),
        "purge left /etc/edgeproxy"
    );
    assert!(!Path::new(LOGS).exists(), "purge left {LOGS}");
}
