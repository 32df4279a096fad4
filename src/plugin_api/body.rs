//! The request body phase: what a plugin sees of a request body before anything of the
//! request is sent upstream.
//!
//! Pingora's own `request_body_filter` runs while the body streams to the upstream, after
//! the upstream has been chosen, connected and sent the request header: a refusal there
//! reaches the upstream as an aborted request. The body phase runs earlier, in
//! `request_filter`: the proxy reads the start of the body itself (at most the largest
//! [`Plugin::request_body_bytes`](super::Plugin::request_body_bytes) of the route's chain,
//! never more than [`MAX_REQUEST_BODY_BYTES`]), hands it to the plugins, and only then
//! proxies. The bytes read are kept in Pingora's retry buffer, which the proxy sends to
//! the upstream first; the rest of the body streams as usual.

use bytes::Bytes;

/// The most a body phase can see: the size of Pingora's retry buffer (64 KiB), which
/// carries the bytes read ahead to the upstream. A longer body is seen in part
/// ([`RequestBody::complete`] is false).
pub const MAX_REQUEST_BODY_BYTES: usize = 64 * 1024;

/// The start of a request body.
#[derive(Debug, Clone)]
pub struct RequestBody {
    /// The first bytes of the body, as sent (transfer coding removed): at least what the
    /// plugin asked for, unless the body is shorter.
    pub bytes: Bytes,
    /// True when `bytes` is the whole body.
    pub complete: bool,
}
