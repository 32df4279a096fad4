//! Request limits checked before routing: URI length (414), header count and size (431),
//! declared body size (413); then framing and header names ([`framing_and_names`]).

use pingora::http::RequestHeader;
use pingora::proxy::Session;

use crate::config::Limits;
use crate::request::{self, FramingError};

/// Framing Pingora accepted but an upstream could read differently (README: "Malformed
/// requests and smuggling"; only HTTP/1 sessions have a raw header), then header names an
/// upstream could fold into another one dropped (`request::fields`).
pub fn framing_and_names(session: &mut Session, limits: &Limits) -> Result<(), FramingError> {
    let raw_head = session
        .as_http1()
        .map(|h1| h1.get_headers_raw_bytes())
        .unwrap_or_default();
    request::framing::check(session.req_header(), &raw_head)?;
    let req = session.req_header_mut();
    request::fields::drop_invalid_names(req, limits.underscores_in_headers);
    Ok(())
}

/// Why a request was refused before routing.
#[derive(Debug, PartialEq, Eq)]
pub struct Refusal {
    /// HTTP status to answer.
    pub status: u16,
    /// Short reason for the body and the log.
    pub reason: &'static str,
}

/// Checks request line length and header count/size.
pub fn check_header(req: &RequestHeader, limits: &Limits) -> Option<Refusal> {
    // The request-target as received (an absolute-form target counts whole), with the
    // method: a 40 KiB method is as much a too-long request line as a 40 KiB target (nginx
    // bounds the whole line).
    if req.method.as_str().len() + req.raw_path().len() > limits.max_uri_bytes {
        return Some(Refusal {
            status: 414,
            reason: "request URI too long",
        });
    }
    if req.headers.len() > limits.max_headers {
        return Some(Refusal {
            status: 431,
            reason: "too many request header fields",
        });
    }
    let bytes: usize = req
        .headers
        .iter()
        .map(|(k, v)| k.as_str().len() + v.len() + 4)
        .sum();
    if bytes > limits.max_header_bytes {
        return Some(Refusal {
            status: 431,
            reason: "request header fields too large",
        });
    }
    None
}

/// Checks a declared `Content-Length` against `limit` (Pingora already rejected malformed ones).
pub fn check_declared_body(req: &RequestHeader, limit: u64) -> Option<Refusal> {
    let declared = req
        .headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())?;
    (declared > limit).then_some(Refusal {
        status: 413,
        reason: "request body too large",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_header_bytes: 200,
            max_headers: 3,
            max_uri_bytes: 20,
            max_body_bytes: 10,
            ..Limits::default()
        }
    }

    #[test]
    fn long_uri_is_414() {
        let req = RequestHeader::build("GET", b"/aaaaaaaaaaaaaaaaaaaaaaaaaaa", None).unwrap();
        assert_eq!(check_header(&req, &limits()).map(|r| r.status), Some(414));
        let ok = RequestHeader::build("GET", b"/short", None).unwrap();
        assert_eq!(check_header(&ok, &limits()), None);
        let method = RequestHeader::build("M".repeat(20).as_str(), b"/", None).unwrap();
        assert_eq!(
            check_header(&method, &limits()).map(|r| r.status),
            Some(414)
        );
    }

    #[test]
    fn header_count_and_size_are_431() {
        let mut req = RequestHeader::build("GET", b"/", None).unwrap();
        for i in 0..4 {
            req.append_header(format!("x-h{i}"), "v").unwrap();
        }
        assert_eq!(check_header(&req, &limits()).map(|r| r.status), Some(431));
        let mut big = RequestHeader::build("GET", b"/", None).unwrap();
        big.append_header("x-big", "v".repeat(300)).unwrap();
        assert_eq!(check_header(&big, &limits()).map(|r| r.status), Some(431));
    }

    #[test]
    fn declared_body_over_limit_is_413() {
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        req.append_header("content-length", "11").unwrap();
        assert_eq!(check_declared_body(&req, 10).map(|r| r.status), Some(413));
        assert_eq!(check_declared_body(&req, 11), None);
    }
}
