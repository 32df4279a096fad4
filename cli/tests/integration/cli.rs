//! The `edgeproxy` command's own flags (the rest of the suite drives the same binary).

use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_edgeproxy");

#[test]
fn version_and_help_name_the_flags() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("edgeproxy "));
    let help = Command::new(BIN).arg("--help").output().unwrap();
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in ["-c", "-t", "-u", "-d"] {
        assert!(text.contains(flag), "{flag} missing from --help:\n{text}");
    }
}

#[test]
fn quickstart_config_checks_with_every_builtin_plugin() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/edgeproxy.toml");
    let out = Command::new(BIN).args(["-t", "-c", conf]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_missing_config_file_is_a_clear_error() {
    let out = Command::new(BIN)
        .args(["-t", "-c", "/nonexistent/edgeproxy.toml"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("/nonexistent/edgeproxy.toml") && err.contains("cannot read config"),
        "{err}"
    );
}
