//! Bounding the *whole* request header read. Pingora's read timeouts restart on every read,
//! so a client trickling one header line at a time is never cut off; nginx's
//! `client_header_timeout` bounds the header as a whole. The connection layer runs each
//! request under a deadline and the proxy calls [`header_received`] once the header is
//! parsed (Pingora's `early_request_filter`): a deadline that passes before that closes
//! the connection.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

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

impl HeaderClock {
    /// Runs `work` (one request of the connection); returns `None` when `deadline` passed
    /// before its header was received, dropping `work` and so the connection. After the
    /// header the request runs to its end, whatever the deadline.
    pub async fn within<F: Future>(&self, deadline: Duration, work: F) -> Option<F::Output> {
        self.received.store(false, Ordering::Relaxed);
        let work = HEADER.scope(self.received.clone(), work);
        tokio::pin!(work);
        tokio::select! {
            out = &mut work => return Some(out),
            _ = tokio::time::sleep(deadline) => {}
        }
        match self.received.load(Ordering::Relaxed) {
            true => Some(work.await),
            false => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_header_never_received_is_cut_at_the_deadline() {
        let stuck = std::future::pending::<()>();
        let clock = HeaderClock::default();
        assert_eq!(clock.within(Duration::from_millis(20), stuck).await, None);
    }

    #[tokio::test]
    async fn after_the_header_the_request_outlives_the_deadline() {
        let slow_request = async {
            header_received();
            tokio::time::sleep(Duration::from_millis(60)).await;
            7
        };
        let clock = HeaderClock::default();
        let out = clock.within(Duration::from_millis(10), slow_request).await;
        assert_eq!(out, Some(7));
        // The next request on the connection starts with its header not yet received.
        let stuck = std::future::pending::<()>();
        assert_eq!(clock.within(Duration::from_millis(20), stuck).await, None);
    }

    #[test]
    fn outside_a_connection_marking_is_harmless() {
        header_received();
    }
}
