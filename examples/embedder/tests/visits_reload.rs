//! README's example of a plugin that keeps state across `-s reload` (`visits`, a counter
//! carried with `shared.carry`): the running embedder reloaded in place with the same
//! config keeps counting; a changed config starts a new count.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_embedder");

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(addr: SocketAddr, path: &str) -> Option<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn body(addr: SocketAddr) -> String {
    let r = get(addr, "/visits").expect("an answer");
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    r.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

fn config(port: u16, label: &str) -> String {
    format!(
        r#"
[server]
pid_file = "embedder.pid"
control_sock = "control.sock"

[[servers]]
listen = ["127.0.0.1:{port}"]

[[servers.routes]]
path = "/visits"
plugins = [{{ name = "visits", config = {{ label = "{label}" }} }}]
"#
    )
}

/// `embedder -s reload -c path`: its exit status and stdout.
fn reload(path: &Path) -> String {
    let out = Command::new(BIN)
        .args(["-s", "reload", "-c"])
        .arg(path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("reloaded in place: generation"), "{stdout}");
    stdout
}

#[test]
fn the_counter_survives_a_reload_and_restarts_when_its_config_changes() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = std::env::temp_dir().join(format!("edgeproxy-visits-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("embedder.toml");
    std::fs::write(&path, config(port, "visit")).unwrap();
    let child = Command::new(BIN)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(20);
    while get(addr, "/visits").is_none() {
        assert!(Instant::now() < deadline, "embedder did not answer");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The wait above counted one visit (or more, if a probe got an answer late: read it).
    let before: u64 = body(addr)
        .trim()
        .strip_prefix("visit ")
        .and_then(|n| n.parse().ok())
        .expect("visit N");

    let said = reload(&path);
    assert!(said.contains("generation 2"), "{said}");
    assert_eq!(
        body(addr),
        format!("visit {}\n", before + 1),
        "carried over"
    );

    std::fs::write(&path, config(port, "hit")).unwrap();
    reload(&path);
    assert_eq!(body(addr), "hit 1\n", "a changed config starts a new count");
    let _ = std::fs::remove_dir_all(&dir);
}
