//! Message framing and connection options, checked before anything routes on a request
//! (RFC 9112 §6, RFC 9110 §7.6.1), as strictly as nginx.
//!
//! Pingora's parser already refuses (400) what has no framing at all: `Content-Length`
//! values that are not digits or that differ, a `Transfer-Encoding` whose last coding is not
//! `chunked`, `Transfer-Encoding` in HTTP/1.0. It accepts, and would forward, messages that
//! are framed but could be framed *differently* by an upstream or a cache between us and
//! the origin; those are refused here:
//!
//! | request | status | nginx |
//! |---|---|---|
//! | `Content-Length` and `Transfer-Encoding` together (Pingora drops `Content-Length`) | 400 | 400 |
//! | `Content-Length` twice, or a list (`5, 5`), even with equal values | 400 | 400 |
//! | `Transfer-Encoding` twice, or `chunked` listed twice | 400 | 400 |
//! | a transfer coding besides `chunked` (`gzip, chunked`) | 501 | 501 |
//! | `Connection` naming a field the proxy frames, routes or sets | 400 | (ignores `Connection`) |
//! | `Connection` with a non-token option, or 10 options or more | 400 | (ignores `Connection`) |
//!
//! Fields that `Connection` names otherwise are hop-by-hop and are not forwarded (Pingora's
//! upstream request policy removes them, with `Connection` itself, `Keep-Alive`, `TE`,
//! `Trailer`, `Upgrade` other than WebSocket, `Proxy-Authorization` and `Proxy-Connection`).
//! Pingora refuses the same protected nominations and bad options, but only once an upstream
//! connection is open; checking here refuses them before routing, plugins or upstreams.

use http::header::{CONNECTION, CONTENT_LENGTH, TRANSFER_ENCODING};
use pingora::http::RequestHeader;

/// Fields a client may not make hop-by-hop with `Connection`: they frame the message
/// (`Content-Length`, `Transfer-Encoding`), route it (`Host`) or are set by this proxy for
/// the upstream. Pingora protects `Host` and the `X-Forwarded-*` ones itself.
pub const PROTECTED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "x-forwarded-for",
    "x-forwarded-host",
    "x-forwarded-proto",
    "x-real-ip",
    "x-request-id",
];

/// Most `Connection` options accepted (Pingora's limit: it refuses 10 or more).
pub const MAX_CONNECTION_OPTIONS: usize = 9;

/// Why a request's framing or connection options are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FramingError {
    /// Both `Content-Length` and `Transfer-Encoding` (RFC 9112 §6.1 allows refusing it;
    /// nginx does).
    #[error("both Content-Length and Transfer-Encoding")]
    LengthAndCoding,
    /// More than one `Content-Length` field or value.
    #[error("more than one Content-Length")]
    DuplicateLength,
    /// More than one `Transfer-Encoding` field, or `chunked` applied twice.
    #[error("more than one Transfer-Encoding")]
    DuplicateCoding,
    /// A transfer coding other than `chunked` (RFC 9112 §6.1: 501).
    #[error("transfer coding other than chunked")]
    UnknownCoding,
    /// `Connection` names a field this proxy must forward.
    #[error("Connection names a field that is not hop-by-hop")]
    ProtectedOption,
    /// `Connection` holds something other than comma-separated tokens, or too many.
    #[error("invalid Connection header")]
    BadOption,
}

impl FramingError {
    /// The status the client gets: 501 for a coding we do not implement, 400 otherwise.
    pub fn status(self) -> u16 {
        match self {
            FramingError::UnknownCoding => 501,
            _ => 400,
        }
    }
}

/// Checks `req`'s framing and connection options. `raw_head` is the request's header
/// section as received: Pingora removes `Content-Length` from the parsed header when
/// `Transfer-Encoding` is present, so only the raw bytes still show both.
pub fn check(req: &RequestHeader, raw_head: &[u8]) -> Result<(), FramingError> {
    // One pass over the names (a standard name compares as a tag) tells which of the three
    // fields are there; most requests have none, and a hashed lookup of each cost ~100
    // instructions.
    let (mut length, mut coding, mut connection) = (false, false, false);
    for name in req.headers.keys() {
        length |= name == CONTENT_LENGTH;
        coding |= name == TRANSFER_ENCODING;
        connection |= name == CONNECTION;
    }
    if length {
        check_length(req)?;
    }
    if coding {
        check_coding(req, raw_head)?;
    }
    if connection {
        check_connection(req)?;
    }
    Ok(())
}

fn check_length(req: &RequestHeader) -> Result<(), FramingError> {
    let mut values = req.headers.get_all(CONTENT_LENGTH).iter();
    match (values.next(), values.next()) {
        (_, Some(_)) => Err(FramingError::DuplicateLength),
        (Some(v), None) if v.as_bytes().contains(&b',') => Err(FramingError::DuplicateLength),
        _ => Ok(()),
    }
}

fn check_coding(req: &RequestHeader, raw_head: &[u8]) -> Result<(), FramingError> {
    let mut values = req.headers.get_all(TRANSFER_ENCODING).iter();
    let (first, second) = (values.next(), values.next());
    let Some(value) = first else {
        return Ok(());
    };
    if second.is_some() {
        return Err(FramingError::DuplicateCoding);
    }
    if raw_has_field(raw_head, b"content-length") {
        return Err(FramingError::LengthAndCoding);
    }
    let codings: Vec<&[u8]> = value
        .as_bytes()
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|c| !c.is_empty())
        .collect();
    let chunked = codings
        .iter()
        .filter(|c| c.eq_ignore_ascii_case(b"chunked"))
        .count();
    match (chunked, codings.len()) {
        (1, 1) => Ok(()),
        (n, _) if n > 1 => Err(FramingError::DuplicateCoding),
        _ => Err(FramingError::UnknownCoding),
    }
}

fn check_connection(req: &RequestHeader) -> Result<(), FramingError> {
    let options = req
        .headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|o| !o.is_empty());
    for (n, option) in options.enumerate() {
        if n >= MAX_CONNECTION_OPTIONS || !option.iter().all(|&b| is_tchar(b)) {
            return Err(FramingError::BadOption);
        }
        if PROTECTED
            .iter()
            .any(|p| option.eq_ignore_ascii_case(p.as_bytes()))
        {
            return Err(FramingError::ProtectedOption);
        }
    }
    Ok(())
}

/// Whether a header section as received has a field named `name` (lowercase). The request
/// line is skipped; lines end in LF or CRLF (Pingora accepts both).
fn raw_has_field(raw_head: &[u8], name: &[u8]) -> bool {
    raw_head.split(|&b| b == b'\n').skip(1).any(|line| {
        line.iter()
            .position(|&b| b == b':')
            .is_some_and(|colon| line[..colon].eq_ignore_ascii_case(name))
    })
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(headers: &[(&str, &str)]) -> (RequestHeader, Vec<u8>) {
        let mut r = RequestHeader::build("POST", b"/", None).unwrap();
        let mut raw = b"POST / HTTP/1.1\r\n".to_vec();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
            raw.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\n");
        (r, raw)
    }

    fn checked(headers: &[(&str, &str)]) -> Result<(), FramingError> {
        let (r, raw) = req(headers);
        check(&r, &raw)
    }

    #[test]
    fn one_length_or_one_chunked_coding_is_fine() {
        assert_eq!(checked(&[("Content-Length", "5")]), Ok(()));
        assert_eq!(checked(&[("Transfer-Encoding", "chunked")]), Ok(()));
        assert_eq!(checked(&[("transfer-encoding", "CHUNKED")]), Ok(()));
        assert_eq!(checked(&[("Connection", "close, X-Foo")]), Ok(()));
        assert_eq!(checked(&[]), Ok(()));
    }

    #[test]
    fn both_lengths_are_seen_in_the_raw_head() {
        // Pingora removed Content-Length from the parsed header: only the raw bytes show it.
        let (mut r, raw) = req(&[("Content-Length", "5"), ("Transfer-Encoding", "chunked")]);
        r.remove_header(&CONTENT_LENGTH);
        assert_eq!(check(&r, &raw), Err(FramingError::LengthAndCoding));
        let lf_only = b"POST / HTTP/1.1\ncontent-LENGTH: 5\nTransfer-Encoding: chunked\n\n";
        assert_eq!(check(&r, lf_only), Err(FramingError::LengthAndCoding));
        // A value mentioning it is not the field.
        let value = b"POST / HTTP/1.1\r\nX-A: content-length: 5\r\n\r\n";
        assert_eq!(check(&r, value), Ok(()));
    }

    #[test]
    fn duplicates_are_refused_even_when_equal() {
        let two = [("Content-Length", "5"), ("Content-Length", "5")];
        assert_eq!(checked(&two), Err(FramingError::DuplicateLength));
        let list = [("Content-Length", "5, 5")];
        assert_eq!(checked(&list), Err(FramingError::DuplicateLength));
        let te = [
            ("Transfer-Encoding", "chunked"),
            ("Transfer-Encoding", "chunked"),
        ];
        assert_eq!(checked(&te), Err(FramingError::DuplicateCoding));
        let twice = [("Transfer-Encoding", "chunked, chunked")];
        assert_eq!(checked(&twice), Err(FramingError::DuplicateCoding));
    }

    #[test]
    fn codings_besides_chunked_are_501() {
        let gzip = checked(&[("Transfer-Encoding", "gzip, chunked")]);
        assert_eq!(gzip, Err(FramingError::UnknownCoding));
        assert_eq!(gzip.map_err(FramingError::status), Err(501));
        let identity = checked(&[("Transfer-Encoding", "identity")]);
        assert_eq!(identity, Err(FramingError::UnknownCoding));
    }

    #[test]
    fn connection_cannot_name_what_the_proxy_frames_routes_or_sets() {
        for name in PROTECTED {
            let upper = name.to_ascii_uppercase();
            let got = checked(&[("Connection", &format!("close, {upper}"))]);
            assert_eq!(got, Err(FramingError::ProtectedOption), "{name}");
        }
        let quoted = checked(&[("Connection", "\"x-forwarded-for\"")]);
        assert_eq!(quoted, Err(FramingError::BadOption));
        let nine = ["a"; 9].join(",");
        assert_eq!(checked(&[("Connection", &nine)]), Ok(()));
        let ten = ["a"; 10].join(",");
        assert_eq!(
            checked(&[("Connection", &ten)]),
            Err(FramingError::BadOption)
        );
        let authorization = checked(&[("Connection", "Authorization")]);
        assert_eq!(authorization, Ok(()));
    }
}
