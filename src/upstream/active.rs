//! Active health checks: every `interval`, each member of a group is checked (TCP connect,
//! or an HTTP `GET` whose status must match), concurrently and each bounded by `timeout`;
//! results go to [`UpstreamGroup::record_check`], which applies `rise`/`fall`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::group::UpstreamGroup;
use super::spec::{HealthCheckKind, HealthCheckSpec};

/// Longest status line read from a health endpoint.
const MAX_STATUS_LINE: usize = 1024;

/// Checks `group`'s members forever (returns at once if it has no `health_check`). Cancel
/// by dropping the future (aborting its task). Members added by Consul start as up and are
/// checked from the next round.
pub async fn run_health_checks(group: Arc<UpstreamGroup>) {
    let Some(spec) = group.spec().health_check.clone() else {
        return;
    };
    let mut tick = tokio::time::interval(spec.interval.max(Duration::from_millis(10)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let mut addrs: Vec<SocketAddr> = group
            .members()
            .iter()
            .filter(|m| !m.down)
            .map(|m| m.addr)
            .collect();
        addrs.sort();
        addrs.dedup();
        let results = futures::future::join_all(addrs.iter().map(|&a| check(a, &spec))).await;
        for (addr, result) in addrs.into_iter().zip(results) {
            group.record_check(addr, result);
        }
    }
}

/// Why an active health check failed.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// The whole check took longer than the configured timeout.
    #[error("no answer within {0:?}")]
    Timeout(std::time::Duration),
    /// A socket operation failed (`connect`, `send` or `read`).
    #[error("{step}: {source}")]
    Io {
        /// Which step failed.
        step: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The server answered another status than the expected one.
    #[error("GET {path} answered {got}, expected {expected}")]
    Status {
        /// The checked path.
        path: String,
        /// The status received.
        got: u16,
        /// The status configured.
        expected: u16,
    },
    /// The answer did not start with an HTTP status line.
    #[error("GET {path}: no HTTP status line in the answer")]
    NoStatusLine {
        /// The checked path.
        path: String,
    },
}

fn io(step: &'static str) -> impl FnOnce(std::io::Error) -> CheckError {
    move |source| CheckError::Io { step, source }
}

/// One check of `addr`; `Err` says what went wrong.
pub async fn check(addr: SocketAddr, spec: &HealthCheckSpec) -> Result<(), CheckError> {
    match tokio::time::timeout(spec.timeout, check_unbounded(addr, &spec.kind)).await {
        Ok(r) => r,
        Err(_) => Err(CheckError::Timeout(spec.timeout)),
    }
}

async fn check_unbounded(addr: SocketAddr, kind: &HealthCheckKind) -> Result<(), CheckError> {
    let mut conn = TcpStream::connect(addr).await.map_err(io("connect"))?;
    let HealthCheckKind::Http {
        path,
        expect_status,
    } = kind
    else {
        return Ok(());
    };
    let req = format!(
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\nUser-Agent: edgeproxy-health-check\r\nConnection: close\r\n\r\n"
    );
    conn.write_all(req.as_bytes()).await.map_err(io("send"))?;
    let mut buf = Vec::with_capacity(128);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < MAX_STATUS_LINE {
        let n = conn.read(&mut chunk).await.map_err(io("read"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    match parse_status(&buf) {
        Some(s) if s == *expect_status => Ok(()),
        Some(got) => Err(CheckError::Status {
            path: path.clone(),
            got,
            expected: *expect_status,
        }),
        None => Err(CheckError::NoStatusLine { path: path.clone() }),
    }
}

/// The status code of an `HTTP/1.x NNN ...` status line at the start of `buf`.
fn parse_status(buf: &[u8]) -> Option<u16> {
    let line = buf.split(|&b| b == b'\n').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split_ascii_whitespace();
    if !parts.next()?.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    (code.len() == 3).then(|| code.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::parse_status;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status(b"HTTP/1.1 200 OK\r\nX: y\r\n"), Some(200));
        assert_eq!(parse_status(b"HTTP/1.0 503\r\n"), Some(503));
        assert_eq!(parse_status(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status(b"HTTP/1.1 20 OK\r\n"), None);
        assert_eq!(parse_status(b""), None);
    }
}
