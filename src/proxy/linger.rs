//! Keeping idle keep-alive connections open for a while after the listeners stop.
//!
//! When the service stops accepting (after a graceful upgrade handed the listeners over),
//! Pingora's `http_cleanup` at once closes every connection waiting for its next request.
//! A client that sends a request on such a connection at that moment sees the connection
//! closed under it — and so does a client whose connection was accepted just before, but
//! whose request had not arrived yet. This wrapper delays that cleanup by `linger`: those
//! requests are still read and answered (with `Connection: close`, the process is
//! draining), and only connections that stayed idle for the whole period are closed.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::apps::{HttpServerApp, HttpServerOptions, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;

/// An HTTP app whose cleanup is delayed by `linger`.
pub struct Lingering<A> {
    inner: Arc<A>,
    linger: Duration,
}

impl<A> Lingering<A> {
    /// Wraps `inner`.
    pub fn new(inner: A, linger: Duration) -> Self {
        Lingering {
            inner: Arc::new(inner),
            linger,
        }
    }
}

#[async_trait]
impl<A: HttpServerApp + Send + Sync + 'static> HttpServerApp for Lingering<A> {
    async fn process_new_http(
        self: &Arc<Self>,
        session: ServerSession,
        shutdown: &ShutdownWatch,
    ) -> Option<ReusedHttpStream> {
        self.inner.process_new_http(session, shutdown).await
    }

    fn h2_options(&self) -> Option<pingora::protocols::http::v2::server::H2Options> {
        self.inner.h2_options()
    }

    fn server_options(&self) -> Option<&HttpServerOptions> {
        self.inner.server_options()
    }

    async fn http_cleanup(&self) {
        tokio::time::sleep(self.linger).await;
        self.inner.http_cleanup().await;
    }

    async fn process_custom_session(
        self: Arc<Self>,
        stream: Stream,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        self.inner
            .clone()
            .process_custom_session(stream, shutdown)
            .await
    }
}
