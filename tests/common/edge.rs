//! The real `edgeproxy` binary, started on a config written to a temp dir.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use super::{port_open, wait_until};

/// Path of the binary under test: `edgeproxy` (package `edgeproxy-cli`) in the target
/// directory this test was built into; `cargo test --workspace` builds it first.
pub fn binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> → target/<profile>/edgeproxy
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .map(|profile| profile.join("edgeproxy"))
        .expect("target directory");
    assert!(
        bin.exists(),
        "{} not built: run `cargo build -p edgeproxy-cli` (make test does)",
        bin.display()
    );
    bin
}

/// Runs `edgeproxy -t -c path` and returns its output.
pub fn check(path: &Path) -> Output {
    check_with(path, &[])
}

/// Like [`check`] with extra environment variables (secrets named by example configs).
pub fn check_with(path: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(["-t", "-c"])
        .arg(path)
        .envs(env.iter().copied())
        .output()
        .expect("run edgeproxy -t")
}

/// Runs `edgeproxy -t -c path` with extra environment variables.
pub fn check_with_env(path: &Path, env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(binary());
    cmd.args(["-t", "-c"]).arg(path);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().expect("run edgeproxy -t")
}

/// A running edgeproxy process; killed on drop.
pub struct Edge {
    /// The process.
    pub child: Child,
    /// Temp dir holding the config and logs.
    pub dir: tempfile::TempDir,
}

impl Edge {
    /// Writes `config` (with `{dir}` replaced by the temp dir) and starts the binary, then
    /// waits until every address in `wait_for` accepts connections.
    pub fn start(config: &str, wait_for: &[SocketAddr]) -> Edge {
        Self::start_with(config, wait_for, &[])
    }

    /// Like [`Edge::start`] with extra environment variables.
    pub fn start_with(config: &str, wait_for: &[SocketAddr], env: &[(&str, &str)]) -> Edge {
        let dir = tempfile::tempdir().expect("tempdir");
        let config = config.replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join("edgeproxy.toml");
        std::fs::write(&path, config).expect("write config");
        let mut cmd = Command::new(binary());
        cmd.arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(
                std::fs::File::create(dir.path().join("stderr.log")).expect("log"),
            ));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("spawn edgeproxy");
        let mut edge = Edge { child, dir };
        let up = wait_until(Duration::from_secs(15), || {
            wait_for.iter().all(|a| port_open(*a))
        });
        if !up {
            let _ = edge.child.kill();
            panic!("edgeproxy did not start:\n{}", edge.stderr());
        }
        edge
    }

    /// Starts the binary with extra arguments (e.g. `-u`) on `config` written into `dir`,
    /// without waiting for anything.
    pub fn spawn_in(dir: tempfile::TempDir, name: &str, config: &str, args: &[&str]) -> Edge {
        let config = config.replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log");
        let child = Command::new(binary())
            .args(args)
            .arg("-c")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn edgeproxy");
        Edge { child, dir }
    }

    /// What the process wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }

    /// A file in the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
