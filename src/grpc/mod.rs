//! gRPC over the proxy (docs/grpc.md): which requests are gRPC, the status codes, errors the
//! proxy itself produces answered as gRPC (trailers-only: HTTP 200 + `grpc-status`), and
//! `grpc-timeout` read as a deadline, gRPC-Web translated (`web`). A leaf: it knows HTTP headers, nothing of the proxy.

mod local;
mod status;
mod timeout;
pub mod web;

pub use local::{split_status, trailers_only};
pub use status::{encode_message, Code};
pub use timeout::parse_timeout;

use http::header::CONTENT_TYPE;
use http::HeaderMap;

/// The `grpc-status` field.
pub const GRPC_STATUS: &str = "grpc-status";
/// The `grpc-message` field.
pub const GRPC_MESSAGE: &str = "grpc-message";
/// The `grpc-timeout` field.
pub const GRPC_TIMEOUT: &str = "grpc-timeout";

/// Whether a message with these headers is gRPC: `Content-Type: application/grpc`, alone
/// or with a `+format` or parameters (not gRPC-Web, `application/grpc-web…`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    let Some(ct) = headers.get(CONTENT_TYPE).map(|v| v.as_bytes()) else {
        return false;
    };
    const GRPC: &[u8] = b"application/grpc";
    ct.len() >= GRPC.len()
        && ct[..GRPC.len()].eq_ignore_ascii_case(GRPC)
        && matches!(ct.get(GRPC.len()), None | Some(b'+' | b';' | b' '))
}

/// The `grpc-status` in `headers` (a trailers-only answer's header, or the trailers).
pub fn status_of(headers: &HeaderMap) -> Option<u32> {
    headers.get(GRPC_STATUS)?.to_str().ok()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_ct(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn grpc_content_types() {
        for ct in [
            "application/grpc",
            "application/grpc+proto",
            "Application/GRPC;x=1",
        ] {
            assert!(is_grpc(&with_ct(ct)), "{ct}");
        }
        for ct in [
            "application/grpc-web",
            "application/grpc-web-text+proto",
            "text/html",
        ] {
            assert!(!is_grpc(&with_ct(ct)), "{ct}");
        }
        assert!(!is_grpc(&HeaderMap::new()));
    }

    #[test]
    fn status_fields() {
        let mut h = HeaderMap::new();
        assert_eq!(status_of(&h), None);
        h.insert(GRPC_STATUS, "14".parse().unwrap());
        assert_eq!(status_of(&h), Some(14));
    }
}
