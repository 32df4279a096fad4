//! gRPC status codes, the HTTP statuses the proxy answers mapped onto them, and the
//! `grpc-message` encoding.

/// A gRPC status code (the canonical codes of `google.rpc.Code`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Code {
    /// Not an error.
    Ok = 0,
    /// The caller cancelled.
    Cancelled = 1,
    /// An error with no better code.
    Unknown = 2,
    /// The client sent something invalid.
    InvalidArgument = 3,
    /// The deadline passed before the call completed.
    DeadlineExceeded = 4,
    /// Not found.
    NotFound = 5,
    /// Already exists.
    AlreadyExists = 6,
    /// The caller may not do this.
    PermissionDenied = 7,
    /// A quota or a size was exhausted (rate limits, too large messages).
    ResourceExhausted = 8,
    /// The system is not in a state for this call.
    FailedPrecondition = 9,
    /// Aborted.
    Aborted = 10,
    /// Out of range.
    OutOfRange = 11,
    /// The method is not served here.
    Unimplemented = 12,
    /// An internal error.
    Internal = 13,
    /// The service is unavailable (try again later).
    Unavailable = 14,
    /// Data loss.
    DataLoss = 15,
    /// The caller is not authenticated.
    Unauthenticated = 16,
}

impl Code {
    /// The code for an HTTP status the proxy answers with (its own errors, a plugin's
    /// refusal). gRPC's HTTP mapping (doc/http-grpc-status-mapping.md) where it has one
    /// (401, 403, 404, 502, 503), more precise codes for what only a proxy answers: 408 and
    /// 504 (a deadline), 413 and 429 (a size or a quota: RESOURCE_EXHAUSTED, as Envoy's
    /// `rate_limited_as_resource_exhausted`), 400/414/431 (the request itself), 500.
    pub fn from_http(status: u16) -> Code {
        match status {
            200..=299 => Code::Ok,
            400 | 414 | 431 => Code::InvalidArgument,
            401 => Code::Unauthenticated,
            403 => Code::PermissionDenied,
            404 | 405 | 501 => Code::Unimplemented,
            408 | 504 => Code::DeadlineExceeded,
            413 | 429 => Code::ResourceExhausted,
            500 => Code::Internal,
            502 | 503 => Code::Unavailable,
            _ => Code::Unknown,
        }
    }

    /// The number sent in `grpc-status`.
    pub fn as_u32(self) -> u32 {
        self as u32
    }
}

/// `text` as a `grpc-message` value: percent-encoded UTF-8, every byte outside printable
/// ASCII (0x20–0x7E) and `%` itself as `%XX` (gRPC's PROTOCOL-HTTP2 spec).
pub fn encode_message(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_statuses_map_onto_grpc_codes() {
        assert_eq!(Code::from_http(429), Code::ResourceExhausted);
        assert_eq!(Code::from_http(403), Code::PermissionDenied);
        assert_eq!(Code::from_http(401), Code::Unauthenticated);
        assert_eq!(Code::from_http(404), Code::Unimplemented);
        assert_eq!(Code::from_http(502), Code::Unavailable);
        assert_eq!(Code::from_http(504), Code::DeadlineExceeded);
        assert_eq!(Code::from_http(418), Code::Unknown);
        assert_eq!(Code::Unauthenticated.as_u32(), 16);
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(encode_message("no upstream"), "no upstream");
        assert_eq!(encode_message("100% über\n"), "100%25 %C3%BCber%0A");
    }
}
