//! The HTTP version of a proxied response: ours, not the upstream's.
//!
//! An intermediary sends its own HTTP version (RFC 9110 §6.2), as nginx does. Pingora passes
//! an HTTP/1.0 upstream's status line on as it is (it upgrades it to 1.1 only when it adds
//! chunked framing itself), so a 1.1 client read `HTTP/1.0 200 OK`, and once compression had
//! replaced `Content-Length` with chunked framing, `HTTP/1.0` + `Transfer-Encoding: chunked`
//! — framing RFC 9112 §6.1 tells recipients to treat as faulty. An HTTP/1.0 client, for its
//! part, cannot read chunked framing at all: its response is delimited by closing the
//! connection instead.

use http::header::TRANSFER_ENCODING;
use http::Version;
use pingora::http::ResponseHeader;

/// Makes `resp` an HTTP/1.1 response, and for an HTTP/1.0 request (`request`) one without
/// chunked framing. Returns whether the connection must close after it (the body is then
/// delimited by the close).
pub fn own_version(resp: &mut ResponseHeader, request: Version) -> bool {
    if resp.version != Version::HTTP_11 {
        resp.set_version(Version::HTTP_11);
    }
    if request != Version::HTTP_10 || resp.headers.get(TRANSFER_ENCODING).is_none() {
        return false;
    }
    resp.remove_header(&TRANSFER_ENCODING);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resp(version: Version, chunked: bool) -> ResponseHeader {
        let mut r = ResponseHeader::build(200, None).unwrap();
        r.set_version(version);
        if chunked {
            r.insert_header("transfer-encoding", "chunked").unwrap();
        } else {
            r.insert_header("content-length", "5").unwrap();
        }
        r
    }

    #[test]
    fn an_http10_upstream_answer_goes_out_as_ours() {
        for upstream in [Version::HTTP_09, Version::HTTP_10, Version::HTTP_11] {
            let mut r = resp(upstream, false);
            assert!(!own_version(&mut r, Version::HTTP_11));
            assert_eq!(r.version, Version::HTTP_11);
            assert_eq!(r.headers["content-length"], "5");
            let mut r = resp(upstream, true);
            assert!(!own_version(&mut r, Version::HTTP_11));
            assert_eq!(r.version, Version::HTTP_11);
            assert_eq!(r.headers["transfer-encoding"], "chunked");
        }
    }

    #[test]
    fn an_http10_client_never_gets_chunked_framing() {
        let mut r = resp(Version::HTTP_10, true);
        assert!(own_version(&mut r, Version::HTTP_10));
        assert_eq!(r.version, Version::HTTP_11);
        assert!(r.headers.get("transfer-encoding").is_none());
        let mut r = resp(Version::HTTP_10, false);
        assert!(!own_version(&mut r, Version::HTTP_10));
        assert_eq!(r.headers["content-length"], "5");
    }
}
