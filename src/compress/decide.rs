//! Whether one response is compressed, and the header changes that go with it.
//!
//! nginx's order (`ngx_http_gzip_header_filter`): a response is *eligible* when it has a
//! body (not HEAD, not 1xx/204/206/304), no `Content-Encoding` yet (never compressed
//! twice), no `Cache-Control: no-transform` (RFC 9110 §7.7; nginx ignores it), a listed
//! media type, and a `Content-Length` of at least `min_length` (unknown length counts as
//! long enough; a client refusing identity waives the minimum). An eligible response gets
//! `Vary: Accept-Encoding`; it is compressed when the request is HTTP/1.1 or later (nginx
//! `gzip_http_version 1.1`) and `Accept-Encoding` picks one of our codings.

use http::header::{
    ACCEPT_RANGES, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG,
    TRANSFER_ENCODING, VARY,
};
use http::{HeaderValue, Method, StatusCode, Version};
use pingora::http::{RequestHeader, ResponseHeader};

use super::{Accepted, Coding, CompressionSpec};

/// What compression needs from the request, read before any plugin can change it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestInfo {
    /// The client's `Accept-Encoding`.
    pub accepted: Accepted,
    /// A HEAD request: its response gets GET's header changes, and no body.
    pub head: bool,
    /// An HTTP/1.0 request: it cannot take a chunked body, so it is not compressed.
    pub http10: bool,
}

impl RequestInfo {
    /// What `req` says.
    pub fn of(req: &RequestHeader) -> RequestInfo {
        let values = req.headers.get_all(http::header::ACCEPT_ENCODING);
        RequestInfo {
            accepted: Accepted::parse(values.iter().map(|v| v.as_bytes())),
            head: req.method == Method::HEAD,
            http10: req.version < Version::HTTP_11,
        }
    }
}

/// What happens to one response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Not eligible: left exactly as it is.
    Untouched,
    /// Eligible but not compressed for this request: only `Vary` is added.
    Vary,
    /// Compressed with this coding.
    Compress(Coding),
}

/// The decision for response `resp` (`end`: it has no body) to request `req`.
pub fn decide(
    spec: &CompressionSpec,
    req: &RequestInfo,
    resp: &ResponseHeader,
    end: bool,
) -> Decision {
    let status = resp.status;
    // A HEAD response has no body but carries the header GET would (RFC 9110 §9.3.2):
    // decided as for GET; the module then writes no encoded bytes.
    if (end && !req.head)
        || status.is_informational()
        || matches!(
            status,
            StatusCode::NO_CONTENT | StatusCode::PARTIAL_CONTENT | StatusCode::NOT_MODIFIED
        )
    {
        return Decision::Untouched;
    }
    let h = &resp.headers;
    let encoded = h
        .get_all(CONTENT_ENCODING)
        .iter()
        .any(|v| !v.as_bytes().trim_ascii().is_empty());
    let no_transform = h.get_all(CACHE_CONTROL).iter().any(|v| {
        v.as_bytes()
            .split(|&b| b == b',')
            .any(|d| d.trim_ascii().eq_ignore_ascii_case(b"no-transform"))
    });
    // gRPC and gRPC-Web bodies are streams of framed messages (compressed per message by
    // gRPC itself): never touched, even with `types = ["*"]`.
    let typed = h
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| spec.types.matches(ct) && !is_grpc(ct));
    if encoded || no_transform || !typed {
        return Decision::Untouched;
    }
    let length = h
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if length.is_some_and(|n| n < spec.min_length) && !req.accepted.identity_refused() {
        return Decision::Untouched;
    }
    if req.http10 {
        return Decision::Vary;
    }
    match req.accepted.choose(&spec.algorithms) {
        Some(c) => Decision::Compress(c),
        None => Decision::Vary,
    }
}

/// Edits `resp` for `decision`: `Vary` (when `vary`), and for compression the coding, no
/// `Content-Length` or `Accept-Ranges` (the length changes, ranges no longer apply),
/// chunked framing on HTTP/1.1 (Pingora drops it for HTTP/2), and a strong `ETag` made
/// weak (an invalid one removed), as nginx does.
pub fn apply(resp: &mut ResponseHeader, decision: Decision, vary: bool) -> pingora::Result<()> {
    if decision == Decision::Untouched {
        return Ok(());
    }
    if vary {
        add_vary(resp)?;
    }
    let Decision::Compress(coding) = decision else {
        return Ok(());
    };
    resp.insert_header(CONTENT_ENCODING, coding.token())?;
    resp.remove_header(&CONTENT_LENGTH);
    resp.remove_header(&ACCEPT_RANGES);
    resp.insert_header(TRANSFER_ENCODING, "chunked")?;
    let weak = match resp.headers.get(ETAG).map(|v| v.as_bytes()) {
        None => return Ok(()),
        Some(tag) if tag.starts_with(b"W/") => return Ok(()),
        Some(tag) if tag.starts_with(b"\"") => [b"W/", tag].concat(),
        Some(_) => {
            resp.remove_header(&ETAG);
            return Ok(());
        }
    };
    match HeaderValue::from_bytes(&weak) {
        Ok(v) => resp.insert_header(ETAG, v),
        Err(_) => {
            resp.remove_header(&ETAG);
            Ok(())
        }
    }
}

/// Adds `Accept-Encoding` to `Vary` unless it (or `*`) is already there.
fn add_vary(resp: &mut ResponseHeader) -> pingora::Result<()> {
    let present = resp.headers.get_all(VARY).iter().any(|v| {
        v.as_bytes().split(|&b| b == b',').any(|t| {
            let t = t.trim_ascii();
            t == b"*" || t.eq_ignore_ascii_case(b"accept-encoding")
        })
    });
    if present {
        return Ok(());
    }
    resp.append_header(VARY, "Accept-Encoding").map(|_| ())
}

/// `application/grpc…` (gRPC, gRPC-Web, any format).
fn is_grpc(content_type: &str) -> bool {
    content_type
        .get(..16)
        .is_some_and(|p| p.eq_ignore_ascii_case("application/grpc"))
}

#[cfg(test)]
#[path = "decide_tests.rs"]
mod tests;
