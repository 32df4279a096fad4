//! Bounding the *whole* request header read. Pingora's read timeouts restart on every read,
//! so a client trickling one header line at a time is never cut off; nginx's
//! `client_header_timeout` bounds the header as a whole. The connection layer runs each
//! request under a deadline and the proxy calls [`header_received`] once the header is
//! parsed (Pingora's `early_request_filter`): a deadline that passes before that closes
//! the connection.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use tokio::time::Sleep;

thread_local! {
    /// Set by [`header_received`] during a poll of a request's work; [`HeaderClock::within`]
    /// clears it before each poll and reads it after. A thread-local flag rather than a
    /// tokio task-local: the proxy marks the header from inside the very poll the clock
    /// drives (same thread, no task in between), and a task-local cost ~1,200 instructions
    /// per request (its scope swaps and the larger future it wraps).
    static RECEIVED: Cell<bool> = const { Cell::new(false) };
}

/// Marks the current request's header as complete (no effect outside [`HeaderClock::within`]).
pub fn header_received() {
    RECEIVED.with(|r| r.set(true));
}

/// The header clock of one connection, run around each of its requests. Its timer is made
/// once and reset per request that needs it (a new boxed `Sleep` per request cost ~200
/// instructions more).
#[derive(Default)]
pub struct HeaderClock {
    timer: Option<Pin<Box<Sleep>>>,
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
        &mut self,
        deadline: Duration,
        start: Start,
        work: F,
    ) -> Option<F::Output> {
        tokio::pin!(work);
        let mut received = false;
        let mut armed = false;
        let mut idle_wait = start == Start::FirstBytes;
        if !idle_wait {
            self.arm(deadline);
            armed = true;
        }
        std::future::poll_fn(|cx| {
            // Whatever an enclosing clock had is put back after this poll.
            let outer = RECEIVED.with(|r| r.replace(false));
            let polled = work.as_mut().poll(cx);
            received |= RECEIVED.with(|r| r.replace(outer));
            if let Poll::Ready(out) = polled {
                return Poll::Ready(Some(out));
            }
            if received {
                return Poll::Pending; // the header is in: no deadline any more
            }
            if std::mem::take(&mut idle_wait) {
                return Poll::Pending; // waiting for the request's first bytes
            }
            if !std::mem::replace(&mut armed, true) {
                self.arm(deadline);
            }
            match self.timer.as_mut().map(|t| t.as_mut().poll(cx)) {
                Some(Poll::Ready(())) => Poll::Ready(None),
                _ => Poll::Pending,
            }
        })
        .await
    }

    /// Sets the timer to `deadline` from now.
    fn arm(&mut self, deadline: Duration) {
        let at = tokio::time::Instant::now() + deadline;
        match &mut self.timer {
            Some(t) => t.as_mut().reset(at),
            None => self.timer = Some(Box::pin(tokio::time::sleep_until(at))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_header_never_received_is_cut_at_the_deadline() {
        let stuck = std::future::pending::<()>();
        let mut clock = HeaderClock::default();
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
        let mut clock = HeaderClock::default();
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
        let mut clock = HeaderClock::default();
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

    #[tokio::test]
    async fn a_mark_made_outside_the_request_does_not_count_for_it() {
        header_received(); // e.g. an HTTP/2 stream on this thread, outside any clock
        let stuck = std::future::pending::<()>();
        let mut clock = HeaderClock::default();
        let cut = clock.within(Duration::from_millis(20), Start::Now, stuck);
        let out = tokio::time::timeout(Duration::from_secs(2), cut).await;
        assert_eq!(
            out,
            Ok(None),
            "the stale mark kept the request from being cut"
        );
    }
}
