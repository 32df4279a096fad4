//! The connection layer of a server block, under Pingora's HTTP proxy: nginx-like client
//! timeouts and a cap on open connections.
//!
//! | limit | nginx | enforced by |
//! |---|---|---|
//! | `client_header_timeout` (whole header) | same | a [`HeaderClock`] around each request |
//! | `keepalive_timeout` (idle between requests) | same | Pingora's keep-alive read timeout, set per request by the proxy |
//! | `client_body_timeout` (between body reads) | same | Pingora's downstream read timeout, set per request by the proxy |
//! | `max_connections` | `worker_connections` | a semaphore here: beyond it, 503 and close |
//!
//! This replaces Pingora's own loop over a connection's HTTP/1.x requests (`ServerApp` for
//! an `HttpServerApp`) with the same loop plus the limits. Before it, the connection's
//! [`Gate`] reads a PROXY protocol header where the listener requires one. HTTP/2
//! connections (ALPN `h2` on TLS, prior-knowledge h2c on plain `http2` listeners) go to
//! Pingora's own HTTP/2 loop, whose streams run the same proxy; their limits are HTTP/2's
//! (bounded concurrent streams, the idle timeout, h2's reset and header-list limits).

pub mod first_bytes;
pub mod gate;
pub mod h2c;
pub mod head;
pub mod header_clock;
pub mod proxy_protocol;
mod requests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::{Stream, ALPN};
use pingora::server::ShutdownWatch;
use prometheus::{IntCounter, IntGauge};
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;

use crate::metrics;
use crate::proxy::direct::Direct;

pub use first_bytes::FirstBytes;
pub use gate::{Gate, PreTlsGate, Trusted};
pub use header_clock::{header_received, HeaderClock};

/// Connection limits of one server block (nginx names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnLimits {
    /// Time for a whole request header; on a kept-alive connection it starts when the first
    /// byte of the request may arrive, after `keepalive_timeout` at the latest.
    pub client_header_timeout: Duration,
    /// Time between two reads of a request body (a slower client gets 408).
    pub client_body_timeout: Duration,
    /// How long an idle keep-alive connection stays open; zero disables keep-alive.
    pub keepalive_timeout: Duration,
    /// Open connections allowed; beyond it a new connection gets 503 and is closed.
    pub max_connections: usize,
    /// Concurrent streams an HTTP/2 client may open on one connection.
    pub http2_max_concurrent_streams: u32,
    /// Longest a closing connection keeps reading (and discarding) a request body the
    /// answer did not need, so the client reads the answer instead of a reset; zero: close
    /// at once (nginx `lingering_time`, `lingering_close off`).
    pub lingering_time: Duration,
    /// Longest wait for more of that body before closing (nginx `lingering_timeout`).
    pub lingering_timeout: Duration,
}

impl Default for ConnLimits {
    /// nginx's defaults: 60 s header, 60 s body, 75 s keep-alive; 10000 connections; 128
    /// HTTP/2 streams per connection; lingering close for up to 30 s, 5 s between reads.
    fn default() -> Self {
        ConnLimits {
            client_header_timeout: Duration::from_secs(60),
            client_body_timeout: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            http2_max_concurrent_streams: 128,
            lingering_time: Duration::from_secs(30),
            lingering_timeout: Duration::from_secs(5),
        }
    }
}

impl ConnLimits {
    /// The keep-alive timeout as Pingora takes it: whole seconds (rounded up, so a
    /// sub-second value still keeps connections alive), `None` when keep-alive is off.
    pub fn keepalive_secs(&self) -> Option<u64> {
        let t = self.keepalive_timeout;
        match t.is_zero() {
            true => None,
            false => Some(t.as_secs() + u64::from(t.subsec_nanos() > 0)),
        }
    }
}

const REFUSED: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
Content-Length: 25\r\nConnection: close\r\n\r\n503 too many connections\n";

/// A server block's HTTP application (Pingora's `HttpProxy`) behind the connection limits.
pub struct Guarded<A> {
    app: Arc<A>,
    limits: ConnLimits,
    slots: Arc<Semaphore>,
    open: IntGauge,
    refused: IntCounter,
    header_timeouts: IntCounter,
    gate: Option<Gate>,
    direct: Option<Arc<Direct>>,
    closing: Arc<head::Closing>,
    linger: Duration,
}

impl<A> Guarded<A> {
    /// `app` under `limits`, counted in metrics as server block `server`.
    pub fn new(app: A, limits: ConnLimits, server: &str) -> Self {
        Guarded {
            app: Arc::new(app),
            limits,
            slots: Arc::new(Semaphore::new(limits.max_connections)),
            open: metrics::CONNECTIONS.with_label_values(&[server]),
            refused: metrics::CONNECTIONS_REFUSED.with_label_values(&[server]),
            header_timeouts: metrics::HEADER_TIMEOUTS.with_label_values(&[server]),
            gate: None,
            direct: None,
            closing: Arc::default(),
            linger: Duration::ZERO,
        }
    }

    /// Keeps idle keep-alive connections open for `linger` after the listeners stop.
    ///
    /// When the service stops accepting (after a graceful upgrade handed the listeners
    /// over), Pingora's `http_cleanup` at once closes every connection waiting for its next
    /// request. A client that sends a request on such a connection at that moment sees the
    /// connection closed under it — and so does a client whose connection was accepted just
    /// before, but whose request had not arrived yet. The cleanup is delayed by `linger`:
    /// those requests are still read and answered (with `Connection: close`, the process is
    /// draining), and only connections that stayed idle for the whole period are closed.
    pub fn with_linger(mut self, linger: Duration) -> Self {
        self.linger = linger;
        self
    }

    /// Requests of local routes are answered by `direct`, below pingora-proxy.
    pub fn with_direct(mut self, direct: Direct) -> Self {
        self.direct = Some(Arc::new(direct));
        self
    }

    /// Connections also pass `gate` (PROXY header, h2c) before HTTP starts.
    pub fn with_gate(mut self, gate: Gate) -> Self {
        self.gate = Some(gate);
        self
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> ServerApp for Guarded<A> {
    async fn process_new(
        self: &Arc<Self>,
        mut stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        let Ok(_slot) = self.slots.clone().try_acquire_owned() else {
            self.refused.inc();
            let write = stream.write_all(REFUSED);
            let _ = tokio::time::timeout(Duration::from_secs(1), write).await;
            return None;
        };
        let _open = Open::count(&self.open);
        let tls = stream.get_ssl_digest().is_some();
        let mut h2 = matches!(stream.selected_alpn_proto(), Some(ALPN::H2));
        if let (Some(gate), false) = (&self.gate, tls) {
            if let Err(e) = gate.proxy_header(&mut *stream).await {
                tracing::info!("connection closed: {e}");
                return None;
            }
            if gate::on(&gate.h2c, gate::local_addr(&*stream)) {
                match self.h2c_preface(&mut stream).await {
                    Some(yes) => h2 = yes,
                    None => return None,
                }
            }
        }
        if h2 {
            // Pingora's HTTP/2 loop: each stream runs the proxy's phases as a request. The
            // preface must come within the header timeout (the loop itself waits for ever).
            let timeout = self.limits.client_header_timeout;
            let stream = FirstBytes::new(stream, first_bytes::PREFACE_LEN, timeout);
            return <A as ServerApp>::process_new(&self.app, Box::new(stream), shutdown).await;
        }
        self.serve(stream, shutdown).await;
        None
    }

    async fn cleanup(&self) {
        tokio::time::sleep(self.linger).await;
        self.app.http_cleanup().await;
        self.closing.close();
    }
}

impl<A: HttpServerApp + Send + Sync + 'static> Guarded<A> {
    /// Whether a plain connection speaks HTTP/2 (`Some(true)`) or HTTP/1 (`Some(false)`),
    /// from its first bytes ([`h2c::classify`]: never more than a valid start sends);
    /// `None` (close) when they are neither — answered with a GOAWAY — or do not come
    /// within the header timeout.
    async fn h2c_preface(&self, stream: &mut Stream) -> Option<bool> {
        let decide = async {
            let mut buf = [0u8; h2c::MAX_LOOK];
            let mut want = h2c::MIN_HTTP1;
            loop {
                let peek = buf.get_mut(..want)?;
                if !stream.try_peek(peek).await.ok()? {
                    return Some(h2c::Start::Http1); // a stream that cannot peek
                }
                match h2c::classify(peek) {
                    Ok(start) => return Some(start),
                    Err(more) => want = more,
                }
            }
        };
        match tokio::time::timeout(self.limits.client_header_timeout, decide).await {
            Ok(Some(h2c::Start::H2)) => Some(true),
            Ok(Some(h2c::Start::Http1)) => Some(false),
            Ok(Some(h2c::Start::Invalid)) => {
                h2c::send_goaway(stream).await;
                None
            }
            Ok(None) => None,
            Err(_) => {
                self.header_timeouts.inc();
                None
            }
        }
    }
}

/// One open connection in the gauge, for as long as it lives (however its task ends).
struct Open<'a>(&'a IntGauge);

impl<'a> Open<'a> {
    fn count(gauge: &'a IntGauge) -> Self {
        gauge.inc();
        Open(gauge)
    }
}

impl Drop for Open<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalive_is_whole_seconds_rounded_up_or_off() {
        let with = |ms| ConnLimits {
            keepalive_timeout: Duration::from_millis(ms),
            ..ConnLimits::default()
        };
        assert_eq!(with(0).keepalive_secs(), None);
        assert_eq!(with(300).keepalive_secs(), Some(1));
        assert_eq!(with(1000).keepalive_secs(), Some(1));
        assert_eq!(with(75_500).keepalive_secs(), Some(76));
    }
}
