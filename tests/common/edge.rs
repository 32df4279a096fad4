//! The real `edgeproxy` binary: `-t` checks, and processes started on a config written to a
//! temp dir (killed, and the dir removed, on `Drop`). Its listen ports come from the config,
//! so a clash with another program fails the start with the process's stderr.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use super::port_open;
use super::wait::{wait_exit, wait_ready, WaitError};

/// How long a started binary may take to listen.
const START: Duration = Duration::from_secs(15);

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

/// Runs `edgeproxy -t -c path` with extra environment variables (e.g. secrets named by the
/// config) and returns its output.
pub fn check_with(path: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(binary())
        .args(["-t", "-c"])
        .arg(path)
        .envs(env.iter().copied())
        .output()
        .expect("run edgeproxy -t")
}

/// What `edgeproxy -t` said about a config text.
pub struct Checked {
    /// The file checked (its temp dir lives as long as this value).
    pub path: PathBuf,
    /// Exit code.
    pub code: Option<i32>,
    /// Stderr, as text.
    pub stderr: String,
    _dir: tempfile::TempDir,
}

/// Writes `text` to `bad.toml` in a new temp dir and runs `edgeproxy -t -c` on it.
pub fn check_text(text: &str) -> Checked {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, text).expect("write config");
    let out = check_with(&path, &[]);
    Checked {
        path,
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        _dir: dir,
    }
}

/// A running edgeproxy process; killed on drop.
pub struct Edge {
    /// The process.
    pub child: Child,
    /// Temp dir holding the config and logs.
    pub dir: tempfile::TempDir,
}

impl Edge {
    /// Writes `config` (with `{dir}` replaced by a new temp dir) and starts the binary, then
    /// waits until every address in `wait_for` accepts connections.
    pub fn start(config: &str, wait_for: &[SocketAddr]) -> Edge {
        Self::start_with(config, wait_for, &[])
    }

    /// Like [`Edge::start`] with extra environment variables.
    pub fn start_with(config: &str, wait_for: &[SocketAddr], env: &[(&str, &str)]) -> Edge {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut edge = Self::spawn(dir, "edgeproxy", config, &[], env);
        edge.wait_listening(wait_for)
            .unwrap_or_else(|e| panic!("edgeproxy did not start: {e}\n{}", edge.stderr()));
        // The ports answer, but maybe not ours: another process took one first and this
        // edgeproxy exited ("cannot listen"). Say so instead of testing the wrong server.
        if let Ok(Some(status)) = edge.child.try_wait() {
            panic!(
                "edgeproxy exited ({status}) although {wait_for:?} answer: a port race?\n{}",
                edge.stderr()
            );
        }
        edge
    }

    /// Starts the binary with extra arguments (e.g. `-u`) on `config` written into `dir` as
    /// `<name>.toml`, without waiting for anything.
    pub fn spawn_in(dir: tempfile::TempDir, name: &str, config: &str, args: &[&str]) -> Edge {
        Self::spawn(dir, name, config, args, &[])
    }

    fn spawn(
        dir: tempfile::TempDir,
        name: &str,
        config: &str,
        args: &[&str],
        env: &[(&str, &str)],
    ) -> Edge {
        let config = config.replace("{dir}", &dir.path().display().to_string());
        let path = dir.path().join(format!("{name}.toml"));
        std::fs::write(&path, config).expect("write config");
        let log = std::fs::File::create(dir.path().join("stderr.log")).expect("log");
        let child = Command::new(binary())
            .args(args)
            .arg("-c")
            .arg(&path)
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn edgeproxy");
        Edge { child, dir }
    }

    /// Waits until every address in `addrs` accepts connections; fails early if the process
    /// exits.
    pub fn wait_listening(&mut self, addrs: &[SocketAddr]) -> Result<(), WaitError> {
        let what = format!("edgeproxy to listen on {addrs:?}");
        wait_ready(&mut self.child, &what, START, || {
            addrs.iter().all(|a| port_open(*a))
        })
    }

    /// Waits until the process exits and returns its status.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, WaitError> {
        wait_exit(&mut self.child, timeout)
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
