//! The loop over one HTTP/1 connection's requests, each under the header clock, and the
//! choice of who answers each: the block's direct answers ([`Direct`], local routes) or
//! pingora-proxy. Pingora's own loop (`ServerApp` for an `HttpServerApp`) does the same
//! without the limits and without the choice.
//!
//! A connection whose request went to pingora-proxy stays with it: the session settings it
//! hands back may hold bytes of a pipelined next request that only a session can read, so
//! the next request is not looked at first.

use bytes::BytesMut;
use futures::future::BoxFuture;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::protocols::http::ServerSession;
use pingora::protocols::Stream;
use pingora::server::ShutdownWatch;

use super::header_clock::{self, HeaderClock};
use super::{head, Guarded};
use crate::assembly::DirectScope;
use crate::boxed::in_box;
use crate::proxy::direct::{Answered, Start};

/// Where a connection stands between two requests.
enum Conn {
    /// Just accepted.
    New(Stream),
    /// After a direct answer: what it left, in the open.
    Direct(Answered),
    /// After pingora-proxy: its settings, opaque.
    Proxied(ReusedHttpStream),
}

impl<A: HttpServerApp + Send + Sync + 'static> Guarded<A> {
    /// Serves the requests of one HTTP/1 connection until it closes.
    pub(super) async fn serve(&self, stream: Stream, shutdown: &ShutdownWatch) {
        let mut conn = Conn::New(stream);
        // A new connection has the whole header time; a kept-alive one may first idle.
        let deadline = self.limits.client_header_timeout;
        let mut start = header_clock::Start::Now;
        let mut clock = HeaderClock::default();
        loop {
            let work = self.one(conn, shutdown);
            conn = match clock.within(deadline, start, work).await {
                Some(Some(next)) => next,
                Some(None) => return,
                None => {
                    self.header_timeouts.inc();
                    return;
                }
            };
            // The idle wait before the next request is bounded by the keep-alive timeout;
            // the header deadline runs from the request's first bytes, as in nginx.
            start = header_clock::Start::FirstBytes;
        }
    }

    /// One request of the connection; `Some` when another may follow.
    async fn one(&self, conn: Conn, shutdown: &ShutdownWatch) -> Option<Conn> {
        let first_keepalive = || match *shutdown.borrow() {
            true => None,
            false => self.limits.keepalive_secs(),
        };
        let (mut stream, prefix, settings, keepalive) = match conn {
            Conn::Proxied(reused) => {
                let (stream, settings) = reused.consume();
                let mut session = ServerSession::new_http1(stream);
                if let Some(settings) = settings {
                    settings.apply_to_session(&mut session);
                }
                return self.proxied(session, shutdown).await;
            }
            Conn::New(stream) => (stream, None, None, first_keepalive()),
            Conn::Direct(a) => (a.stream, a.prefix, Some(a.settings), a.keepalive),
        };
        // A block that answers nothing directly now goes straight to pingora-proxy (a
        // reload during the wait for the request changes nothing for it: the proxy answers
        // any request right).
        let direct = self.direct.as_ref().filter(|d| d.active().is_some());
        let Some(direct) = direct else {
            let session = session(stream, prefix, settings, keepalive);
            return self.proxied(session, shutdown).await;
        };
        // Boxed, as the direct answer below: kept out of the future of every request.
        let head = in_box!(head::read(&mut stream, prefix, keepalive, &self.closing)).await?;
        // The generation in force once the request is here is the one that answers it.
        let take = match direct.active() {
            Some((gen, DirectScope::All)) => Some(gen),
            Some((gen, _)) => direct.takes(&gen, &head).then_some(gen),
            None => None,
        };
        if let Some(gen) = take {
            let start = match settings {
                Some(s) => Start::Next(s),
                None => Start::First(keepalive),
            };
            // Boxed: inline, its state would make every request's future (proxied ones
            // too) as large as the phases', and that future is moved per request.
            let answered = in_box!(direct.answer(gen, stream, head, start, shutdown));
            return answered.await.map(Conn::Direct);
        }
        let session = session(stream, Some(head), settings, keepalive);
        self.proxied(session, shutdown).await
    }

    /// pingora-proxy answers the request of `session`. Boxed: the session (~700 bytes) lives
    /// in it, and inline it would make every request's future (direct ones too) that large,
    /// and that future is moved per request.
    fn proxied<'a>(
        &'a self,
        session: ServerSession,
        shutdown: &'a ShutdownWatch,
    ) -> BoxFuture<'a, Option<Conn>> {
        in_box!(async move {
            let reused = self.app.process_new_http(session, shutdown).await?;
            Some(Conn::Proxied(reused))
        })
    }
}

/// A session on `stream` that reads `prefix` first, with the settings the previous request
/// left (or, for a first request, `keepalive`).
fn session(
    stream: Stream,
    prefix: Option<BytesMut>,
    settings: Option<HttpPersistentSettings>,
    keepalive: Option<u64>,
) -> ServerSession {
    let mut session = ServerSession::new_http1(stream);
    match settings {
        Some(settings) => settings.apply_to_session(&mut session),
        None => session.set_keepalive(keepalive),
    }
    if let Some(prefix) = prefix.filter(|p| !p.is_empty()) {
        session.set_pipelined_prefix(prefix);
    }
    session
}
