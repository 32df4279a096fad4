//! A response the proxy produces itself (an error, a plugin's refusal) for a gRPC request,
//! written as gRPC: trailers-only — HTTP 200, `content-type: application/grpc`,
//! `grpc-status` and `grpc-message` in the one HEADERS frame that ends the stream — never an
//! HTML or text page a gRPC client cannot read.

use http::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use pingora::http::ResponseHeader;

use super::{encode_message, Code, GRPC_MESSAGE, GRPC_STATUS};

/// Longest body read as the `grpc-message` (the first line of a short text body).
const MAX_MESSAGE: usize = 512;

/// `resp` (with body `body`) as a trailers-only gRPC answer, and its code: the HTTP status
/// mapped by [`Code::from_http`], the message from the body's first line (else the
/// status's reason), other header fields (`retry-after`, `www-authenticate`,
/// `x-request-id`, rate-limit fields) kept as response metadata.
pub fn trailers_only(
    resp: &ResponseHeader,
    body: &[u8],
) -> pingora::Result<(ResponseHeader, Code)> {
    let status = resp.status.as_u16();
    let code = match Code::from_http(status) {
        // A 2xx the proxy made itself for a gRPC call is no gRPC answer.
        Code::Ok => Code::Unknown,
        c => c,
    };
    let mut out = ResponseHeader::build(200, Some(resp.headers.len() + 3))?;
    for (name, value) in resp.headers.iter() {
        if ![
            CONTENT_TYPE,
            CONTENT_LENGTH,
            CONTENT_ENCODING,
            TRANSFER_ENCODING,
        ]
        .contains(name)
        {
            out.append_header(name.clone(), value.clone())?;
        }
    }
    out.insert_header(CONTENT_TYPE, "application/grpc")?;
    out.insert_header(GRPC_STATUS, code.as_u32().to_string())?;
    out.insert_header(GRPC_MESSAGE, encode_message(&message(status, body)))?;
    Ok((out, code))
}

/// A trailers-only answer (from [`trailers_only`]) as a header and trailers: for HTTP/2
/// (and gRPC-Web) clients, whose answer must end with a HEADERS frame carrying
/// `grpc-status` — Pingora's proxy session sends a header without END_STREAM and ends the
/// stream with an empty DATA frame, which gRPC clients refuse.
pub fn split_status(mut header: ResponseHeader) -> (ResponseHeader, http::HeaderMap) {
    let mut trailers = http::HeaderMap::with_capacity(2);
    for name in [GRPC_STATUS, GRPC_MESSAGE] {
        if let Some(v) = header.remove_header(name) {
            trailers.insert(name, v);
        }
    }
    (header, trailers)
}

/// The first line of a short text body, else the status's reason phrase.
fn message(status: u16, body: &[u8]) -> String {
    let text = std::str::from_utf8(body)
        .ok()
        .filter(|t| t.len() <= MAX_MESSAGE);
    let line = text
        .and_then(|t| t.lines().map(str::trim).find(|l| !l.is_empty()))
        .filter(|l| !l.starts_with('<'));
    match line {
        Some(l) => l.to_string(),
        None => http::StatusCode::from_u16(status)
            .ok()
            .and_then(|s| s.canonical_reason())
            .map_or_else(|| format!("HTTP status {status}"), str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_become_trailers_only_answers() {
        let mut r = ResponseHeader::build(429, None).unwrap();
        r.insert_header("content-type", "text/plain").unwrap();
        r.insert_header("retry-after", "1").unwrap();
        let (h, code) = trailers_only(&r, b"429 too many requests\nrequest id: x\n").unwrap();
        assert_eq!((h.status.as_u16(), code), (200, Code::ResourceExhausted));
        let get = |n: &str| h.headers.get(n).unwrap().to_str().unwrap().to_string();
        assert_eq!(get("content-type"), "application/grpc");
        assert_eq!(get("grpc-status"), "8");
        assert_eq!(get("grpc-message"), "429 too many requests");
        assert_eq!(get("retry-after"), "1");
        let (head, trailers) = split_status(h);
        assert!(head.headers.get("grpc-status").is_none());
        assert_eq!(head.headers["content-type"], "application/grpc");
        assert_eq!(trailers["grpc-status"], "8");
        assert_eq!(trailers["grpc-message"], "429 too many requests");
    }

    #[test]
    fn html_or_long_bodies_give_the_reason() {
        assert_eq!(message(403, b"<html>no</html>"), "Forbidden");
        assert_eq!(message(502, &[b'x'; 600]), "Bad Gateway");
        assert_eq!(message(599, b""), "HTTP status 599");
    }
}
