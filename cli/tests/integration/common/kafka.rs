//! A real Kafka-protocol broker for the access-event tests: `tansu` (from crates.io, built
//! once by `make kafka-broker` into the cache directory; `EDGEPROXY_TANSU` names the
//! binary) with in-memory storage on a free port, and `kafka-python` (PyPI, in a venv made
//! by the same target; `EDGEPROXY_KAFKA_PY` names its interpreter) as the independent client
//! that reads events back (`kafka_read.py`). Debian's `kcat` (librdkafka 2.0.2) cannot read
//! tansu's ApiVersions v3 answer (docs/hot.md). Killed, and its temp dir removed, on `Drop`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::wait::{retry_port_race, wait_ready, wait_until};
use super::{free_port, port_open, tool};

/// How long the broker may take to listen.
const START: Duration = Duration::from_secs(30);

/// The tansu binary: `$EDGEPROXY_TANSU`, else where `make kafka-broker` installs it.
pub fn tansu() -> PathBuf {
    tool("EDGEPROXY_TANSU", "tansu-0.6.0-dynostore/bin/tansu")
}

/// The Python with kafka-python: `$EDGEPROXY_KAFKA_PY`, else `make kafka-broker`'s venv.
pub fn kafka_python() -> PathBuf {
    tool("EDGEPROXY_KAFKA_PY", "kafka-python-3.0.12/bin/python")
}

/// One tansu broker process.
pub struct Broker {
    /// Its port on 127.0.0.1.
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Broker {
    /// Starts a broker on a free port.
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut broker = Broker {
            port: 0,
            child: None,
            dir,
        };
        retry_port_race("start tansu", || {
            broker.port = free_port();
            broker.start_process()
        });
        broker
    }

    fn start_process(&mut self) -> Result<(), super::wait::WaitError> {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let log = std::fs::File::create(self.dir.path().join("tansu.log")).expect("log");
        let err = log.try_clone().expect("log");
        let child = Command::new(tansu())
            .arg("broker")
            .args(["--listener-url", &url, "--advertised-listener-url", &url])
            .args(["--storage-engine", "memory://tansu/"])
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(err))
            .spawn()
            .expect("spawn tansu");
        let child = self.child.insert(child);
        let addr = ([127, 0, 0, 1], self.port).into();
        wait_ready(child, "tansu to listen", START, || port_open(addr))
    }

    /// `127.0.0.1:<port>`.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Creates `topic` with `partitions` partitions (storage is in memory: again after a
    /// restart).
    pub fn create_topic(&self, topic: &str, partitions: u32) {
        let out = Command::new(tansu())
            .args(["topic", "create", topic])
            .args(["--broker", &format!("tcp://127.0.0.1:{}", self.port)])
            .args(["--partitions", &partitions.to_string()])
            .output()
            .expect("run tansu topic create");
        assert!(
            out.status.success(),
            "tansu topic create {topic}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Kills the broker (its port stays reserved for [`restart`](Self::restart)).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        let addr = ([127, 0, 0, 1], self.port).into();
        wait_until("the broker's port to close", START, || !port_open(addr)).unwrap();
    }

    /// Starts the broker again on the same port (empty: storage is in memory).
    pub fn restart(&mut self) {
        self.stop();
        self.start_process()
            .unwrap_or_else(|e| panic!("tansu restart: {e}\n{}", self.log()));
    }

    /// What the broker logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("tansu.log")).unwrap_or_default()
    }

    /// Every message of `topic` from the beginning, as (key, value), read with kafka-python.
    pub fn consume(&self, topic: &str) -> Vec<(String, String)> {
        self.read(topic)
            .into_iter()
            .map(|(k, _, v)| (k, v))
            .collect()
    }

    /// Every message of `topic` from the beginning, as (key, partition).
    pub fn consume_partitions(&self, topic: &str) -> Vec<(String, u32)> {
        self.read(topic)
            .into_iter()
            .map(|(k, p, _)| (k, p))
            .collect()
    }

    /// (key, partition, value) of every message of `topic`, from `kafka_read.py`.
    fn read(&self, topic: &str) -> Vec<(String, u32, String)> {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/integration/common/kafka_read.py"
        );
        let out = Command::new(kafka_python())
            .args([script, &self.addr(), topic])
            .output()
            .expect("run kafka_read.py");
        assert!(
            out.status.success(),
            "kafka_read.py: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let mut f = l.splitn(3, '\t');
                let (k, p, v) = (f.next()?, f.next()?, f.next()?);
                Some((k.to_string(), p.parse().ok()?, v.to_string()))
            })
            .collect()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
