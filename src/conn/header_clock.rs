//! Bounding the *whole* request header read. Pingora's read timeouts restart on every read,
//! so a client trickling one header line at a time is never cut off; nginx's
//! `client_header_timeout` bounds the header as a whole. The connection layer runs each
//! request under a deadline and the proxy calls [`header_received`] once the header is
//! parsed (Pingora's `early_request_filter`): a deadline that passes before that closes
//! the connection.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Sleep;

tokio::task_local! {
    static HEADER: Arc<AtomicBool>;
}

/// Marks the current request's header as complete (no effect outside [`HeaderClock::within`]).
pub fn header_received() {
    let _ = HEADER.try_with(|h| h.store(true, Ordering::Relaxed));
}

/// The header clock of one connection, reused by each of its requests.
#[derive(Default)]
pub struct HeaderClock {
    received: Arc<AtomicBool>,
}

/// When a request's header deadline starts to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At once: the first request of a connection (a client that connects and sends
    /// nothing is cut at the deadline).
    Now,
    /// When the request makes progress without a complete header, i.e. once its first
    /// bytes arrived (nginx's switch from `keepalive_timeout` to `client_header_timeout`):
    /// later requests of a kept-alive connection, whose idle wait Pingora's keep-alive
    /// timer bounds. A request whose header arrives whole never arms a timer.
    FirstBytes,
}

impl HeaderClock {
    /// Runs `work` (one request of the connection); returns `None` when `deadline` passed
    /// (counted from `start`) before its header was received, dropping `work` and so the
    /// connection. After the header the request runs to its end, whatever the deadline.
    pub async fn within<F: Future>(
        &self,
        deadline: Duration,
        start: Start,
        work: F,
    ) -> Option<F::Output> {
        self.received.store(false, Ordering::Relaxed);
        let work = HEADER.scope(self.received.clone(), work);
        tokio::pin!(work);
        let mut timer: Option<Pin<Box<Sleep>>> = None;
        let mut idle_wait = start == Start::FirstBytes;
        if !idle_wait {
            timer = Some(Box::pin(tokio::time::sleep(deadline)));
        }
        std::future::poll_fn(|cx| {
            if let Poll::Ready(out) = work.as_mut().poll(cx) {
                return Poll::Ready(Some(out));
            }
            if self.received.load(Ordering::Relaxed) {
                timer = None; // the header is in: no deadline any more
                return Poll::Pending;
            }
            if std::mem::take(&mut idle_wait) {
                return Poll::Pending; // waiting for the request's first bytes
            }
            let t = timer.get_or_insert_with(|| Box::pin(tokio::time::sleep(deadline)));
            match t.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(None),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_header_never_received_is_cut_at_the_deadline() {
        let stuck = std::future::pending::<()>();
        let clock = HeaderClock::default();
        assert_eq!(
            clock
                .within(Duration::from_millis(20), Start::Now, stuck)
                .await,
            None
        );
    }

    #[tokio::test]
    async fn after_the_header_the_request_outlives_the_deadline() {
        let slow_request = async {
            header_received();
            tokio::time::sleep(Duration::from_millis(60)).await;
            7
        };
        let clock = HeaderClock::default();
        let out = clock
            .within(Duration::from_millis(10), Start::Now, slow_request)
            .await;
        assert_eq!(out, Some(7));
        // The next request on the connection starts with its header not yet received.
        let stuck = std::future::pending::<()>();
        assert_eq!(
            clock
                .within(Duration::from_millis(20), Start::Now, stuck)
                .await,
            None
        );
    }

    #[tokio::test]
    async fn a_kept_alive_request_is_timed_from_its_first_bytes() {
        // Idle (pending, never woken) until "bytes arrive" at 30 ms, then stuck without a
        // complete header: cut 20 ms after the bytes, not 20 ms after the start.
        let began = tokio::time::Instant::now();
        let trickle = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            std::future::pending::<()>().await
        };
        let clock = HeaderClock::default();
        let out = clock
            .within(Duration::from_millis(20), Start::FirstBytes, trickle)
            .await;
        assert_eq!(out, None);
        assert!(
            began.elapsed() >= Duration::from_millis(50),
            "{:?}",
            began.elapsed()
        );
        // A whole header in one go never arms the timer and is not cut.
        let quick = async {
            tokio::time::sleep(Duration::from_millis(30)).await;
            header_received();
            tokio::time::sleep(Duration::from_millis(40)).await;
            5
        };
        let out = clock
            .within(Duration::from_millis(20), Start::FirstBytes, quick)
            .await;
        assert_eq!(out, Some(5));
    }

    #[test]
    fn outside_a_connection_marking_is_harmless() {
        header_received();
    }
}
