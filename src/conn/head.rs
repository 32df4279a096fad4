//! Reading the start of an HTTP/1 request before Pingora's session does, so the connection
//! layer can choose who answers it (`crate::proxy::direct` or pingora-proxy) from its
//! request line and `Host`. The bytes read are handed to the chosen session as its
//! pipelined prefix ([`ServerSession::set_pipelined_prefix`]), which parses them as if it
//! had read them itself: the request is parsed once, whoever answers it.
//!
//! The reads wait as Pingora's own first read does: up to the keep-alive timeout (then the
//! connection closes quietly), for ever when keep-alive is off (the header clock bounds
//! it), and not past the service's shutdown (idle connections close then).
//!
//! [`ServerSession::set_pipelined_prefix`]: pingora::protocols::http::ServerSession::set_pipelined_prefix

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use pingora::protocols::Stream;
use tokio::io::AsyncReadExt;
use tokio::sync::Notify;

/// Pingora's first allocation for a request header (`INIT_HEADER_BUF_SIZE`): the prefix
/// becomes the session's header buffer, so it is sized the same.
const INITIAL: usize = 4096;

/// How much is read before giving up on choosing: a header not complete by then goes to
/// pingora-proxy, which reads the rest under its own limits.
pub const MAX_LOOK: usize = 16 * 1024;

/// The service's shutdown as seen by connections waiting for a request.
#[derive(Default)]
pub struct Closing {
    closed: AtomicBool,
    notify: Notify,
}

impl Closing {
    /// Wakes every waiting connection (they close) and turns later waits away.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    fn closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// `work` (a wait for a request), unless the service closes first (`None`).
    pub async fn until<F: std::future::Future>(&self, work: F) -> Option<F::Output> {
        let shut = self.notify.notified();
        if self.closed() {
            return None;
        }
        tokio::select! {
            biased;
            out = work => Some(out),
            _ = shut => None,
        }
    }
}

/// Reads from `stream` after `prefix` (bytes already read for this request) until the
/// request header is complete or [`MAX_LOOK`] bytes are in. `None` when the connection
/// closed, failed, idled past `keepalive` (`Some(0)`: no limit) or the service closed
/// before a first byte; the connection is then dropped, as Pingora does.
pub async fn read(
    stream: &mut Stream,
    prefix: Option<BytesMut>,
    keepalive: Option<u64>,
    closing: &Closing,
) -> Option<BytesMut> {
    let mut buf = prefix
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| BytesMut::with_capacity(INITIAL));
    let idle = keepalive.filter(|s| *s > 0).map(Duration::from_secs);
    while !complete(&buf) && buf.len() < MAX_LOOK {
        let first = buf.is_empty();
        let n = match (first, idle) {
            (true, _) => first_read(stream, &mut buf, idle, closing).await?,
            (false, Some(d)) => tokio::time::timeout(d, stream.read_buf(&mut buf))
                .await
                .ok()?
                .ok()?,
            (false, None) => stream.read_buf(&mut buf).await.ok()?,
        };
        if n == 0 {
            // Closed mid-header: whoever answers reports it from the bytes so far.
            return (!first).then_some(buf);
        }
    }
    Some(buf)
}

/// The wait for a request's first bytes, which the service's shutdown ends.
async fn first_read(
    stream: &mut Stream,
    buf: &mut BytesMut,
    idle: Option<Duration>,
    closing: &Closing,
) -> Option<usize> {
    let read = async {
        match idle {
            Some(d) => tokio::time::timeout(d, stream.read_buf(buf)).await.ok(),
            None => Some(stream.read_buf(buf).await),
        }
    };
    closing.until(read).await??.ok()
}

/// True when `buf` holds a whole request header (its blank line; a bare LF ends lines too).
/// One pass over the line ends: a request header has a handful of them.
pub fn complete(buf: &[u8]) -> bool {
    memchr::memchr_iter(b'\n', buf).any(|i| match buf.get(i + 1) {
        Some(b'\n') => true,
        Some(b'\r') => buf.get(i + 2) == Some(&b'\n'),
        _ => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_header_is_complete_at_its_blank_line() {
        assert!(complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"));
        assert!(complete(b"GET / HTTP/1.1\nHost: a\n\n"));
        assert!(!complete(b"GET / HTTP/1.1\r\nHost: a\r\n"));
        assert!(!complete(b"GET / HTTP/1.1\r\n"));
        assert!(!complete(b"GET / HTTP/1.1\r\nHost: a\r\n\r"));
        assert!(complete(b"GET / HTTP/1.1\r\nHost: a\n\r\n"));
        assert!(!complete(b""));
    }
}
