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

/// One check of `addr`; `Err` says what went wrong.
pub async fn check(addr: SocketAddr, spec: &HealthCheckSpec) -> Result<(), String> {
    match tokio::time::timeout(spec.timeout, check_unbounded(addr, &spec.kind)).await {
        Ok(r) => r,
        Err(_) => Err(format!("no answer within {:?}", spec.timeout)),
    }
}

async fn check_unbounded(addr: SocketAddr, kind: &HealthCheckKind) -> Result<(), String> {
    let mut conn = TcpStream::connect(addr)
        .await
        .map_err(|e| format!("connect: {e}"))?;
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
    conn.write_all(req.as_bytes())
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut buf = Vec::with_capacity(128);
    let mut chunk = [0u8; 256];
    while !buf.contains(&b'\n') && buf.len() < MAX_STATUS_LINE {
        let n = conn
            .read(&mut chunk)
            .await
            .map_err(|e| format!("read: {e}"))?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    match parse_status(&buf) {
        Some(s) if s == *expect_status => Ok(()),
        Some(s) => Err(format!("GET {path} answered {s}, expected {expect_status}")),
        None => Err(format!("GET {path}: no HTTP status line in the answer")),
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
