//! The real `edgeproxy` binary: `-t` checks, and processes started on a config written to a
//! temp dir (killed, and the dir removed, on `Drop`). A config's listen entries are
//! [`ANY_PORT`]: the binary binds port 0, the OS picks a free port, and the line saying the
//! process runs names it (`edgeproxy running listen=...`), so no other program can take the
//! port between a probe and the bind. Configs that need a port known in advance (an upgrade
//! taking over the same address) use [`Edge::spawn_in`] and [`Edge::wait_listening`].

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::Duration;

use super::port_open;
use super::wait::{wait_exit, wait_ready, WaitError};

/// How long a started binary may take to listen.
const START: Duration = Duration::from_secs(15);

/// The listen address whose port the binary has the OS pick: `127.0.0.1:0`.
pub const ANY_PORT: SocketAddr = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0));

/// What the binary writes once it runs: sockets listening, signal handlers in place
/// (`listen=` follows on the same line).
const RUNNING: &str = "edgeproxy running";

/// The binary under test: `edgeproxy` (package `edgeproxy-cli`) of this build; Cargo builds
/// it before this test crate and names it at compile time.
pub fn binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_edgeproxy"))
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

impl Checked {
    /// Asserts the check failed with, for each `(line, what)`, an error at `FILE:line:`
    /// that says `what`.
    pub fn assert_errors(&self, errors: &[(usize, &str)]) {
        assert_eq!(self.code, Some(1), "{}", self.stderr);
        let file = self.path.display().to_string();
        for (line, what) in errors {
            let at = format!("{file}:{line}:");
            assert!(
                self.stderr
                    .lines()
                    .any(|l| l.starts_with(&at) && l.contains(what)),
                "{at} {what}\n{}",
                self.stderr
            );
        }
    }
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
    /// Where it listens, in config order (filled in once it has started).
    addrs: Vec<SocketAddr>,
}

impl Edge {
    /// Writes `config` (with `{dir}` replaced by a new temp dir), starts the binary and
    /// waits until it has bound its listen entries (see [`Edge::addrs`]).
    pub fn start(config: &str) -> Edge {
        Self::start_with(config, &[])
    }

    /// Like [`Edge::start`] with extra environment variables.
    pub fn start_with(config: &str, env: &[(&str, &str)]) -> Edge {
        let dir = tempfile::tempdir().expect("tempdir");
        Self::started(Self::spawn(dir, "edgeproxy", config, &[], env))
    }

    /// Like [`Edge::start`] in `dir` (which holds files the config names, e.g. certificates),
    /// the config written as `<name>.toml`.
    pub fn start_in(dir: tempfile::TempDir, name: &str, config: &str) -> Edge {
        Self::started(Self::spawn(dir, name, config, &[], &[]))
    }

    fn started(mut edge: Edge) -> Edge {
        edge.wait_started()
            .unwrap_or_else(|e| panic!("edgeproxy did not start: {e}\n{}", edge.stderr()));
        edge
    }

    /// The address of the first listen entry.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// The addresses of every listen entry, in config order (server blocks, then their
    /// entries), with the port the OS picked for [`ANY_PORT`] entries.
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    /// [`Edge::addrs`] as an array of the `N` listen entries the test's config has.
    pub fn listening<const N: usize>(&self) -> [SocketAddr; N] {
        self.addrs
            .clone()
            .try_into()
            .unwrap_or_else(|a| panic!("{N} listen entries expected, the edge has {a:?}"))
    }

    /// Waits for the line saying the process runs (it may be signalled from then on) and
    /// takes the listen addresses from it; fails early if the process exits.
    pub fn wait_started(&mut self) -> Result<(), WaitError> {
        let log = self.path("stderr.log");
        let mut addrs = None;
        wait_ready(&mut self.child, "edgeproxy to run", START, || {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            addrs = text.lines().find(|l| l.contains(RUNNING)).map(listen_field);
            addrs.is_some()
        })?;
        self.addrs = addrs.unwrap_or_default();
        Ok(())
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
        Edge {
            child,
            dir,
            addrs: Vec::new(),
        }
    }

    /// Waits until every address in `addrs` accepts connections (a config with fixed
    /// ports); fails early if the process exits.
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

    /// Writes `config` (`{dir}` replaced as at start) over the one [`Edge::start`] wrote
    /// (`edgeproxy.toml`) and runs `edgeproxy -s reload` on it; panics when it is refused.
    pub fn reload_with(&self, config: &str) {
        let conf = self.path("edgeproxy.toml");
        let dir = self.dir.path().display().to_string();
        std::fs::write(&conf, config.replace("{dir}", &dir)).expect("write config");
        let out = Command::new(binary())
            .args(["-s", "reload", "-c"])
            .arg(&conf)
            .output()
            .expect("edgeproxy -s reload");
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "reload refused: {why}");
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The addresses of the running line's `listen=a,b` field.
fn listen_field(line: &str) -> Vec<SocketAddr> {
    line.split_whitespace()
        .find_map(|f| f.strip_prefix("listen="))
        .unwrap_or_default()
        .split(',')
        .filter_map(|a| a.parse().ok())
        .collect()
}
