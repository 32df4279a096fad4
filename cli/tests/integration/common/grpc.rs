//! A real gRPC server and client: Python `grpcio` (PyPI, in a venv made by `make
//! test-tools`; `EDGEPROXY_GRPC_PY` names its interpreter) running `grpc_peer.py` — the
//! server on a free loopback port (plain h2c or TLS), the client one case per process,
//! answering one JSON line. The server is killed on `Drop`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::tool;
use super::wait::wait_ready;

/// How long the server may take to listen.
const START: Duration = Duration::from_secs(30);

/// The Python with grpcio: `$EDGEPROXY_GRPC_PY`, else `make test-tools`'s venv.
pub fn python() -> PathBuf {
    tool("EDGEPROXY_GRPC_PY", "grpcio-1.85.1/bin/python")
}

fn script() -> PathBuf {
    super::repo_path("cli/tests/integration/common/grpc_peer.py")
}

/// One grpcio server process serving `test.Echo`.
pub struct GrpcServer {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Child,
    _dir: tempfile::TempDir,
}

impl GrpcServer {
    /// A plain-text (h2c) server named `name` (its `x-served-by` header).
    pub fn start(name: &str) -> GrpcServer {
        Self::start_with(name, None)
    }

    /// A server named `name`, TLS with `(cert, key)` when given.
    pub fn start_with(name: &str, tls: Option<(&Path, &Path)>) -> GrpcServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let port_file = dir.path().join("port");
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
        let mut cmd = Command::new(python());
        cmd.arg(script()).arg("serve").arg(&port_file);
        if let Some((cert, key)) = tls {
            cmd.arg(cert).arg(key);
        }
        let mut child = cmd
            .env("PEER_NAME", name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn the grpcio server");
        let ready = wait_ready(&mut child, "the grpcio server to listen", START, || {
            port_file.exists()
        });
        if let Err(e) = ready {
            let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
            panic!("grpcio server: {e}\n{log}");
        }
        let port = std::fs::read_to_string(&port_file)
            .expect("port file")
            .trim()
            .parse()
            .expect("a port");
        GrpcServer {
            port,
            child,
            _dir: dir,
        }
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Kills the server (its connections drop).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `case` (see grpc_peer.py) through `target` in plain text with `:authority`
/// `authority` and `metadata` (`k=v` pairs); its JSON answer.
pub fn call(target: &str, case: &str, authority: &str, metadata: &[&str]) -> serde_json::Value {
    let mut cmd = Command::new(python());
    cmd.env("GRPC_AUTHORITY", authority)
        .env("GRPC_METADATA", metadata.join(","));
    run(cmd, target, case, None)
}

/// Runs `case` through `target`, over TLS trusting `(ca, name)` when given.
pub fn call_with(target: &str, case: &str, tls: Option<(&Path, &str)>) -> serde_json::Value {
    run(Command::new(python()), target, case, tls)
}

fn run(
    mut cmd: Command,
    target: &str,
    case: &str,
    tls: Option<(&Path, &str)>,
) -> serde_json::Value {
    cmd.arg(script()).args(["call", target, case]);
    if let Some((ca, name)) = tls {
        cmd.arg(ca).arg(name);
    }
    let out = cmd.output().expect("run the grpcio client");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "grpc case {case} via {target} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}
