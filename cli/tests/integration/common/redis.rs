//! Real `redis-server` processes on free ports (another port is tried when one is lost
//! between probe and bind): standalone and a 6-node cluster with replicas. Processes are
//! killed and their temp dirs removed on `Drop`.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait::{retry_port_race, wait_ready, wait_until, WaitError};
use super::{claim, free_port};

/// How long a redis-server may take to answer its first PING.
const START: Duration = Duration::from_secs(5);

/// A free port whose cluster-bus twin (port + 10000) is free too, and claimed.
fn cluster_port() -> u16 {
    loop {
        let port = free_port();
        if port <= 55535
            && claim(port + 10000)
            && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok()
        {
            return port;
        }
    }
}

/// One `redis-server` process.
pub struct RedisNode {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
    cluster: bool,
}

impl RedisNode {
    fn spawn(dir: &Path, cluster: bool) -> RedisNode {
        retry_port_race("start redis-server", || {
            let port = if cluster { cluster_port() } else { free_port() };
            let ndir = dir.join(port.to_string());
            std::fs::create_dir_all(&ndir).unwrap();
            let mut node = RedisNode {
                port,
                child: None,
                dir: ndir,
                cluster,
            };
            node.start_process()?;
            Ok(node)
        })
    }

    /// Starts the process on `self.port` and waits until it answers PING.
    fn start_process(&mut self) -> Result<(), WaitError> {
        let mut cmd = Command::new("redis-server");
        cmd.arg("--port")
            .arg(self.port.to_string())
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .arg("--logfile")
            .arg(self.dir.join("redis.log"));
        if self.cluster {
            cmd.args([
                "--cluster-enabled",
                "yes",
                "--cluster-config-file",
                "nodes.conf",
                "--cluster-node-timeout",
                "1000",
            ]);
        }
        let child = cmd.stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        let child = self.child.insert(child.expect("spawn redis-server"));
        let port = self.port;
        wait_ready(child, "redis-server to answer PING", START, || ping(port))
    }

    /// `redis://127.0.0.1:<port>/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn pid(&self) -> Option<i32> {
        self.child.as_ref().map(|c| c.id() as i32)
    }

    /// SIGKILLs the process.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            unsafe { libc::kill(c.id() as i32, libc::SIGCONT) };
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (standalone: empty data).
    pub fn restart(&mut self) {
        self.kill();
        self.start_process()
            .expect("restart redis-server on its port");
    }

    /// SIGSTOPs the process: connections stay open, nothing answers.
    pub fn freeze(&self) {
        if let Some(pid) = self.pid() {
            unsafe { libc::kill(pid, libc::SIGSTOP) };
        }
    }

    /// SIGCONTs a frozen process.
    pub fn thaw(&self) {
        if let Some(pid) = self.pid() {
            unsafe { libc::kill(pid, libc::SIGCONT) };
        }
    }

    /// Runs `redis-cli -p <port> args...` and returns its stdout.
    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .arg("-p")
            .arg(self.port.to_string())
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// How many times this node has run `command` (lowercase, as `INFO commandstats` names
    /// it); 0 before the first.
    pub fn calls(&self, command: &str) -> u64 {
        let prefix = format!("cmdstat_{command}:");
        self.cli(&["INFO", "commandstats"])
            .lines()
            .find_map(|l| l.strip_prefix(&prefix))
            .and_then(|stats| stats.split("calls=").nth(1))
            .and_then(|v| v.split(',').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Whether the process is alive (not killed).
    pub fn alive(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for RedisNode {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) =
        TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200))
    else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    if s.write_all(b"PING\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if buf[..n].starts_with(b"+PONG"))
}

/// A standalone server.
pub struct RedisServer {
    /// The process.
    pub node: RedisNode,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one on a free port.
    pub fn start() -> RedisServer {
        let dir = tempfile::tempdir().unwrap();
        let node = RedisNode::spawn(dir.path(), false);
        RedisServer { node, _dir: dir }
    }

    /// Its URL.
    pub fn url(&self) -> String {
        self.node.url()
    }
}

/// A 6-node cluster: 3 masters, each with one replica.
pub struct RedisCluster {
    /// The processes (index = creation order).
    pub nodes: Vec<RedisNode>,
    _dir: tempfile::TempDir,
}

impl RedisCluster {
    /// Starts 6 nodes, creates the cluster and waits until every node reports
    /// `cluster_state:ok` and every replica's link is up.
    pub fn start() -> RedisCluster {
        let dir = tempfile::tempdir().unwrap();
        let nodes: Vec<_> = (0..6).map(|_| RedisNode::spawn(dir.path(), true)).collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new("redis-cli")
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let c = RedisCluster { nodes, _dir: dir };
        c.wait_healthy(Duration::from_secs(20));
        c
    }

    /// Seed URLs of all nodes.
    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisNode::url).collect()
    }

    /// Indexes of live nodes that are masters.
    pub fn masters(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| {
                self.nodes[i].alive() && self.nodes[i].cli(&["role"]).starts_with("master")
            })
            .collect()
    }

    /// Waits until every live node says `cluster_state:ok`, there are 3 healthy masters
    /// and every live replica is linked to its master.
    pub fn wait_healthy(&self, deadline: Duration) {
        wait_until("a healthy redis cluster", deadline, || {
            self.nodes.iter().filter(|n| n.alive()).all(|n| {
                let info = n.cli(&["cluster", "info"]);
                let repl = n.cli(&["info", "replication"]);
                let nodes = n.cli(&["cluster", "nodes"]);
                let masters = nodes
                    .lines()
                    .filter(|l| l.contains("master") && !l.contains("fail"))
                    .count();
                info.contains("cluster_state:ok")
                    && masters == 3
                    && (repl.contains("role:master") || repl.contains("master_link_status:up"))
            })
        })
        .unwrap();
    }

    /// Kills master `idx` and waits until its replica has been promoted and the cluster is
    /// healthy again.
    pub fn fail_over_master(&mut self, idx: usize) {
        assert!(self.masters().contains(&idx), "node {idx} is not a master");
        self.nodes[idx].kill();
        self.wait_healthy(Duration::from_secs(30));
    }
}
