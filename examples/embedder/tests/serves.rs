//! The embedder example, run as a user would: `-t` on its config, then a real process
//! serving its own plugin and the built-ins on a free loopback port.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_embedder");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/embedder.toml");

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

#[test]
fn config_check_knows_the_embedders_plugin_and_the_builtins() {
    let out = Command::new(BIN)
        .args(["-t", "-c", CONFIG])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("configuration is valid"), "{stdout}");
}

#[test]
fn serves_its_own_plugin_and_builtins() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempdir();
    let config = std::fs::read_to_string(CONFIG)
        .unwrap()
        .replace("127.0.0.1:8180", &format!("127.0.0.1:{port}"));
    let path = dir.join("embedder.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(BIN)
        .arg("-c")
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let _running = Running(child);
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let deadline = Instant::now() + Duration::from_secs(20);
    let hello = loop {
        if let Some(r) = get(addr, "/hello") {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "embedder did not answer on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(hello.starts_with("HTTP/1.1 200"), "{hello}");
    assert!(hello.ends_with("Hello, embedder!\n"), "{hello}");
    assert!(
        hello.to_ascii_lowercase().contains("x-served-by: embedder"),
        "{hello}"
    );
    let health = get(addr, "/health").unwrap();
    assert!(
        health.starts_with("HTTP/1.1 200") && health.ends_with("ok\n"),
        "{health}"
    );
    let missing = get(addr, "/nope").unwrap();
    assert!(missing.starts_with("HTTP/1.1 404"), "{missing}");
}

/// A fresh directory under the system temp dir (removed by the OS; tiny).
fn tempdir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("edgeproxy-embedder-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
