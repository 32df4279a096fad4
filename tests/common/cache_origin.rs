//! A hand-rolled HTTP/1.1 origin (keep-alive) that counts hits and can answer 200, 404 or
//! 500, answer slowly, or be stopped.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

/// How the origin answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    /// 200 with body `v<version>:<path>`.
    Ok = 0,
    /// 404.
    NotFound = 1,
    /// 500.
    Error = 2,
}

#[derive(Default)]
struct State {
    hits: AtomicUsize,
    per_path: Mutex<HashMap<String, usize>>,
    mode: AtomicU8,
    version: AtomicU64,
    delay_ms: AtomicU64,
}

/// The origin double; stopped on `Drop`.
pub struct Origin {
    /// Where it listens.
    pub addr: SocketAddr,
    state: Arc<State>,
    task: Option<JoinHandle<()>>,
}

impl Origin {
    /// Starts on a free port.
    pub async fn start() -> Origin {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let state = Arc::new(State::default());
        let task = Some(tokio::spawn(serve(l, state.clone())));
        Origin { addr, state, task }
    }

    /// Total requests served.
    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Requests served for `path`.
    pub fn hits_for(&self, path: &str) -> usize {
        self.state
            .per_path
            .lock()
            .unwrap()
            .get(path)
            .copied()
            .unwrap_or(0)
    }

    /// Sets how it answers.
    pub fn set_mode(&self, m: Mode) {
        self.state.mode.store(m as u8, Ordering::SeqCst);
    }

    /// Changes the body version (`v<version>:<path>`).
    pub fn set_version(&self, v: u64) {
        self.state.version.store(v, Ordering::SeqCst);
    }

    /// Delays every answer.
    pub fn set_delay(&self, d: Duration) {
        self.state
            .delay_ms
            .store(d.as_millis() as u64, Ordering::SeqCst);
    }

    /// Stops listening and closes every connection.
    pub fn stop(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// The body it serves for `path` now.
    pub fn body(&self, path: &str) -> String {
        format!("v{}:{}", self.state.version.load(Ordering::SeqCst), path)
    }
}

impl Drop for Origin {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn serve(l: TcpListener, state: Arc<State>) {
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            acc = l.accept() => {
                if let Ok((s, _)) = acc {
                    conns.spawn(conn(s, state.clone()));
                }
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

async fn conn(mut s: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        buf.drain(..head_end);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
        let delay = state.delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        state.hits.fetch_add(1, Ordering::SeqCst);
        *state
            .per_path
            .lock()
            .unwrap()
            .entry(path.clone())
            .or_default() += 1;
        let (status, body) = match state.mode.load(Ordering::SeqCst) {
            0 => (
                "200 OK",
                format!("v{}:{}", state.version.load(Ordering::SeqCst), path),
            ),
            1 => ("404 Not Found", "not found".to_string()),
            _ => ("500 Internal Server Error", "boom".to_string()),
        };
        let resp = format!(
            "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: keep-alive\r\n\r\n{body}",
            body.len()
        );
        if s.write_all(resp.as_bytes()).await.is_err() {
            return;
        }
    }
}
