//! A deadline on the first bytes of an HTTP/2 connection. Pingora's HTTP/2 loop waits for
//! the client's connection preface without a time limit (`h2` has none either), so a client
//! that completes TLS with ALPN `h2` — or sends `PRI` on an h2c listener — and then stays
//! silent would hold its connection (and its `max_connections` slot) for ever. Wrapped in
//! [`FirstBytes`], reads fail with `TimedOut` once the deadline passes before the preface
//! has arrived; after it, Pingora's idle timeout takes over.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::tls::SslDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream,
    TimingDigest, UniqueID, UniqueIDType, ALPN,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;

/// The HTTP/2 client connection preface.
pub const PREFACE_LEN: usize = 24;

/// `inner` whose first `needed` bytes must arrive before `deadline`.
#[derive(Debug)]
pub struct FirstBytes {
    inner: Stream,
    needed: usize,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl FirstBytes {
    /// Wraps `inner`: `needed` bytes within `within`.
    pub fn new(inner: Stream, needed: usize, within: Duration) -> Self {
        FirstBytes {
            inner,
            needed,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }
}

impl AsyncRead for FirstBytes {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Some(deadline) = this.deadline.as_mut() {
            if let Poll::Ready(Ok(())) = &polled {
                let got = buf.filled().len() - before;
                this.needed = this.needed.saturating_sub(got);
                if this.needed == 0 || got == 0 {
                    this.deadline = None; // preface in (or EOF): no deadline any more
                    return polled;
                }
            }
            if polled.is_pending() && deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no HTTP/2 preface within client_header_timeout",
                )));
            }
        }
        polled
    }
}

impl AsyncWrite for FirstBytes {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for FirstBytes {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for FirstBytes {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for FirstBytes {
    fn get_ssl(&self) -> Option<&pingora::protocols::tls::TlsRef> {
        self.inner.get_ssl()
    }

    fn get_ssl_digest(&self) -> Option<Arc<SslDigest>> {
        self.inner.get_ssl_digest()
    }

    fn selected_alpn_proto(&self) -> Option<ALPN> {
        self.inner.selected_alpn_proto()
    }
}

impl GetTimingDigest for FirstBytes {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }
}

impl GetProxyDigest for FirstBytes {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for FirstBytes {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest)
    }
}

#[async_trait]
impl Peek for FirstBytes {
    async fn try_peek(&mut self, buf: &mut [u8]) -> std::io::Result<bool> {
        let Some(deadline) = self.deadline.as_ref().map(|d| d.deadline()) else {
            return self.inner.try_peek(buf).await;
        };
        match tokio::time::timeout_at(deadline, self.inner.try_peek(buf)).await {
            Ok(peeked) => peeked,
            Err(_) => Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no HTTP/2 preface within client_header_timeout",
            )),
        }
    }
}
