//! Installing like a package (issue 24, docs/install.md): `make install` / `make uninstall`
//! into a staging tree, the Debian package `make deb` builds (cargo-deb) with its contents,
//! conffiles and maintainer scripts, the shipped systemd unit checked by
//! `systemd-analyze verify`, and the production starter config (`pkg/edgeproxy.toml`)
//! serving, reloading and reopening its logs after the shipped logrotate snippet ran. `e2e`
//! installs the package on this machine; it runs only when asked (`make deb-e2e`).
//!
//! Cheap when warm: nothing here builds edgeproxy. The package is made from the binary this
//! test build already has (`make deb-package --fast`: ~10 s), the install tree likewise.

mod deb;
mod e2e;
mod install;
mod starter;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::common::repo_path;

/// Where the shipped packaging files are: `pkg/` in the repository.
fn pkg(name: &str) -> PathBuf {
    repo_path("pkg").join(name)
}

/// The text of a repository file.
fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// Runs a command to its end; panics with its output unless it succeeded.
fn run_ok(cmd: &mut Command) -> Output {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// `make -C <repo> ARGS` (quietly), which must succeed; not told what an outer `make test`
/// was told (its variables and flags).
fn make(args: &[&str]) -> Output {
    run_ok(
        Command::new("make")
            .env_remove("MAKEFLAGS")
            .env_remove("MFLAGS")
            .env_remove("MAKELEVEL")
            .arg("-s")
            .arg("-C")
            .arg(repo_path("."))
            .args(args),
    )
}

/// Every file and symlink under `root`, as sorted paths relative to it.
fn files(root: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read_dir") {
            let p = entry.expect("entry").path();
            if p.is_dir() && !p.is_symlink() {
                walk(root, &p, out);
            } else {
                let rel = p.strip_prefix(root).expect("under root");
                out.push(rel.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// The value of `key=` in a systemd unit (the first such line).
fn unit_value<'a>(unit: &'a str, key: &str) -> &'a str {
    unit.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .unwrap_or_else(|| panic!("no {key}= in the unit"))
}

/// The quoted string value of `key = "..."` in a TOML file (the first such line).
fn toml_string<'a>(text: &'a str, key: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            let rest = l.trim_start().strip_prefix(key)?.trim_start();
            rest.strip_prefix('=')?
                .trim_start()
                .strip_prefix('"')?
                .split('"')
                .next()
        })
        .unwrap_or_else(|| panic!("no {key} = \"...\" in the config"))
}

/// `systemd-analyze verify` on `unit` (an absolute path inside `root`) with `root` as the
/// root directory, so the binary its Exec lines name is the one installed under `root`. The
/// machine's own units (sysinit.target, ...) are copied in for the check, as on a real
/// system, and removed after it. Returns what it printed: a clean unit prints nothing.
fn verify_unit(root: &Path, unit: &str) -> String {
    let units = root.join("usr/lib/systemd/system");
    std::fs::create_dir_all(&units).expect("mkdir units");
    let mut copied = Vec::new();
    for entry in std::fs::read_dir("/usr/lib/systemd/system").expect("the machine's units") {
        let p = entry.expect("entry").path();
        let to = units.join(p.file_name().expect("name"));
        if p.is_file() && !to.exists() {
            std::fs::copy(&p, &to).expect("copy unit");
            copied.push(to);
        }
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.display()))
        .arg(unit)
        .output()
        .expect("systemd-analyze (Debian package systemd)");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    for p in copied {
        std::fs::remove_file(p).expect("remove the copied unit");
    }
    assert!(
        out.status.success(),
        "systemd-analyze verify {unit} failed:\n{said}"
    );
    said
}
