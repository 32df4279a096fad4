//! Lingering close (nginx's `lingering_close on`, `lingering_time`, `lingering_timeout`).
//!
//! A response sent before the request body was read — a 413 on the declared length, a WAF
//! refusal after its first 64 KiB, an upstream that answered early — closes the
//! connection (pingora-core turns keep-alive off when it writes such a response). Closing
//! a socket with unread bytes makes the kernel send RST, and a client still uploading
//! then gets `EPIPE`/`ECONNRESET` and may lose the answer from its receive buffer before it
//! reads it (curl: `(55) Send failure: Broken pipe`). So, as nginx does, the connection
//! first shuts down its sending side (the client sees the end of the answer at once), then
//! reads and discards what the client still sends — until the client stops (it closes on
//! seeing the answer, or its body ends), a read waits longer than `lingering_timeout`, or
//! `lingering_time` has passed — and only then closes.
//!
//! Runs at the end of the log phase, so the access log's duration and every metric are
//! the answer's, not the drain's. HTTP/2 needs none of this: a refused stream is reset,
//! not the connection.

use pingora::proxy::Session;
use tokio::time::timeout;
use tracing::debug;

use crate::conn::ConnLimits;

/// Reads and discards the rest of the request body when the connection is about to close
/// with it unread (see the module doc).
pub(super) async fn drain_before_close(session: &mut Session, limits: &ConnLimits) {
    let downstream = &mut *session.downstream_session;
    if limits.lingering_time.is_zero()
        || downstream.is_http2()
        || downstream.was_upgraded()
        || downstream.get_keepalive().is_some()
        || downstream.response_written().is_none()
        || downstream.is_body_done()
    {
        return;
    }
    let drain = async {
        // Flushes what is buffered, then FIN (TLS: close_notify first); reading stays open.
        if timeout(limits.lingering_timeout, downstream.shutdown())
            .await
            .is_err()
        {
            return 0; // the client reads nothing either
        }
        let mut discarded = 0u64;
        // Until the body ends, the client closes, a read fails or waits too long.
        while let Ok(Ok(Some(chunk))) =
            timeout(limits.lingering_timeout, downstream.read_request_body()).await
        {
            discarded += chunk.len() as u64;
        }
        discarded
    };
    match timeout(limits.lingering_time, drain).await {
        Ok(discarded) => debug!("lingering close: {discarded} unread body bytes discarded"),
        Err(_) => debug!("lingering close: lingering_time reached"),
    }
}
