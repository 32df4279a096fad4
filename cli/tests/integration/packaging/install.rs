//! `make install` / `make uninstall` (PREFIX, DESTDIR) into a staging tree, with the binary
//! of this build (INSTALL_BIN: no dist build here), and the agreement between the shipped
//! unit, starter config and logrotate snippet.

use std::path::Path;
use std::process::Command;

use super::{files, make, pkg, read, toml_string, unit_value, verify_unit};
use crate::common::edge::{binary, check_with};

/// Everything `make install` stages under DESTDIR with the default PREFIX (/usr/local).
const TREE: &[&str] = &[
    "etc/edgeproxy/edgeproxy.toml",
    "etc/edgeproxy/edgeproxy.toml.default",
    "etc/edgeproxy/templates/product.hbs",
    "etc/logrotate.d/edgeproxy",
    "etc/systemd/system/edgeproxy.service",
    "usr/local/bin/edgeproxy",
    "usr/local/share/doc/edgeproxy/README.md",
    "usr/local/share/doc/edgeproxy/install.md",
    "usr/local/share/edgeproxy/examples/admin.toml",
    "usr/local/share/edgeproxy/examples/api-gateway.toml",
    "usr/local/share/edgeproxy/examples/distribution.toml",
    "usr/local/share/edgeproxy/examples/edge.toml",
    "usr/local/share/edgeproxy/examples/gateway-plugins.toml",
    "usr/local/share/edgeproxy/examples/gray-release.toml",
    "usr/local/share/edgeproxy/examples/hot.toml",
    "usr/local/share/edgeproxy/examples/keys/jwks.json",
    "usr/local/share/edgeproxy/examples/lists/deny.txt",
    "usr/local/share/edgeproxy/examples/rate-limit.toml",
    "usr/local/share/edgeproxy/examples/redis-cluster.toml",
    "usr/local/share/edgeproxy/examples/response-cache.toml",
    "usr/local/share/edgeproxy/templates/product.hbs",
];

fn install(dest: &Path, target: &str) {
    make(&[
        target,
        &format!("DESTDIR={}", dest.display()),
        &format!("INSTALL_BIN={}", binary().display()),
    ]);
}

#[test]
fn make_install_stages_every_file_and_uninstall_keeps_only_the_edited_config() {
    let dest = tempfile::tempdir().expect("tempdir");
    let d = dest.path();
    install(d, "install");
    assert_eq!(files(d), TREE);
    assert!(d.join("var/log/edgeproxy").is_dir(), "no log directory");
    let mode = |p: &str| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(d.join(p))
            .expect("stat")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("usr/local/bin/edgeproxy"), 0o755);
    assert_eq!(mode("etc/systemd/system/edgeproxy.service"), 0o644);
    assert_eq!(mode("var/log/edgeproxy"), 0o750);

    // The unit runs the binary of this PREFIX, on the installed config.
    let unit = read(&d.join("etc/systemd/system/edgeproxy.service"));
    assert_eq!(
        unit_value(&unit, "ExecStart"),
        "/usr/local/bin/edgeproxy -d -c /etc/edgeproxy/edgeproxy.toml"
    );
    assert!(!unit.contains("/usr/bin/"), "{unit}");
    let said = verify_unit(d, "/etc/systemd/system/edgeproxy.service");
    assert_eq!(said, "", "systemd-analyze verify is not clean");

    // The installed binary runs, and every installed example validates where it is.
    let bin = d.join("usr/local/bin/edgeproxy");
    let v = Command::new(&bin)
        .arg("-v")
        .output()
        .expect("run installed");
    assert!(String::from_utf8_lossy(&v.stdout).starts_with("edgeproxy "));
    let env = [
        ("EDGEPROXY_API_KEYS", "example-key"),
        ("EDGEPROXY_ADMIN_TOKEN", "example-token"),
    ];
    let examples = d.join("usr/local/share/edgeproxy/examples");
    for f in files(&examples).iter().filter(|f| f.ends_with(".toml")) {
        let out = check_with(&examples.join(f), &env);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "installed {f} fails -t:\n{err}");
    }

    // An edited config survives a second install (the shipped one lands beside it) ...
    let conf = d.join("etc/edgeproxy/edgeproxy.toml");
    let edited = read(&conf).replace("threads = 2", "threads = 3");
    std::fs::write(&conf, &edited).expect("edit");
    install(d, "install");
    assert_eq!(
        read(&conf),
        edited,
        "make install overwrote the edited config"
    );
    assert!(read(&d.join("etc/edgeproxy/edgeproxy.toml.default")).contains("threads = 2"));

    // ... and `make uninstall` removes everything else.
    install(d, "uninstall");
    assert_eq!(files(d), ["etc/edgeproxy/edgeproxy.toml"]);
    assert_eq!(read(&conf), edited);
}

#[test]
fn make_uninstall_removes_an_unedited_install_entirely() {
    let dest = tempfile::tempdir().expect("tempdir");
    install(dest.path(), "install");
    install(dest.path(), "uninstall");
    assert_eq!(files(dest.path()), Vec::<String>::new());
}

#[test]
fn shipped_unit_starter_config_and_logrotate_agree() {
    let unit = read(&pkg("edgeproxy.service"));
    let conf = read(&pkg("edgeproxy.toml"));
    let rotate = read(&pkg("edgeproxy.logrotate"));

    // The pid file systemd watches is the one the config writes; the control socket
    // `-s reload` uses is beside it, in the directory systemd makes for the unit.
    let pid_file = toml_string(&conf, "pid_file");
    assert_eq!(unit_value(&unit, "PIDFile"), pid_file);
    let run_dir = format!("/run/{}", unit_value(&unit, "RuntimeDirectory"));
    assert_eq!(Path::new(pid_file).parent(), Some(Path::new(&run_dir)));
    let upgrade_sock = toml_string(&conf, "upgrade_sock");
    assert_eq!(Path::new(upgrade_sock).parent(), Some(Path::new(&run_dir)));
    assert!(rotate.contains(&format!("cat {pid_file}")), "{rotate}");

    // Both logs are in the unit's LogsDirectory, which logrotate rotates.
    let log_dir = format!("/var/log/{}", unit_value(&unit, "LogsDirectory"));
    let error_log = toml_string(&conf, "error_log");
    let access_log = conf
        .split("name = \"access-log\", config = { path = \"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("an access-log with a path");
    for log in [error_log, access_log] {
        assert_eq!(Path::new(log).parent(), Some(Path::new(&log_dir)), "{log}");
        assert!(
            log.ends_with(".log"),
            "{log} is not matched by the logrotate glob"
        );
    }
    let glob = format!("{log_dir}/*.log {{");
    assert!(rotate.lines().any(|l| l == glob), "{rotate}");
    assert!(rotate.contains("kill -USR1"), "{rotate}");

    // Every command of the unit uses the config the packages install, as the service user.
    for key in ["ExecStartPre", "ExecStart", "ExecReload", "ExecStop"] {
        let cmd = unit_value(&unit, key);
        assert!(cmd.starts_with("/usr/bin/edgeproxy "), "{key}={cmd}");
        assert!(
            cmd.ends_with(" -c /etc/edgeproxy/edgeproxy.toml"),
            "{key}={cmd}"
        );
    }
    assert_eq!(
        unit_value(&unit, "ExecStartPre"),
        "/usr/bin/edgeproxy -t -c /etc/edgeproxy/edgeproxy.toml"
    );
    assert!(unit_value(&unit, "ExecReload").contains(" -s reload "));
    assert_eq!(unit_value(&unit, "User"), "edgeproxy");
    assert_eq!(
        unit_value(&unit, "AmbientCapabilities"),
        "CAP_NET_BIND_SERVICE"
    );
    // The config's log level governs (an EDGEPROXY_LOG in the unit would override it).
    assert!(!unit.contains("EDGEPROXY_LOG"), "{unit}");
}
