//! What a connection on a plain `http2` listener speaks, from its first bytes: HTTP/2 with
//! prior knowledge (the connection preface), HTTP/1 (a request line's start), or neither —
//! which gets an HTTP/2 GOAWAY (PROTOCOL_ERROR, RFC 9113 §3.4) rather than an HTTP/1.1
//! 400, as an HTTP/2 server answers an invalid preface.
//!
//! Only as many bytes are looked at as any valid start is sure to send: 14 first (the
//! shortest HTTP/1 request, `A / HTTP/1.0` and an empty line, LF-terminated), the whole
//! 24-byte preface once the bytes are a start of it, then one more byte at a time while
//! the method or an absolute-form scheme goes on — so a valid request is never waited on.

use tokio::io::AsyncWriteExt;

/// The HTTP/2 client connection preface (RFC 9113 §3.4).
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The fewest bytes of any valid HTTP/1 request.
pub const MIN_HTTP1: usize = 14;

/// Beyond this many bytes of method and scheme, the HTTP/1 parser decides.
pub const MAX_LOOK: usize = 64;

/// What a connection starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The HTTP/2 connection preface.
    H2,
    /// What can be the start of an HTTP/1 request line.
    Http1,
    /// Neither: answered with a GOAWAY and closed.
    Invalid,
}

/// What `bytes` (the connection's first bytes) start, or the number of bytes needed to
/// tell (always more than `bytes.len()`, and sent by any valid start).
pub fn classify(bytes: &[u8]) -> Result<Start, usize> {
    let n = bytes.len().min(PREFACE.len());
    if bytes[..n] == PREFACE[..n] {
        return match bytes.len() >= PREFACE.len() {
            true => Ok(Start::H2),
            false => Err(PREFACE.len()),
        };
    }
    // `PRI * HTTP/2.0` and then not the rest of the preface: an HTTP/2 client's mistake,
    // no HTTP/1 request (its version is 2.0).
    if bytes.starts_with(&PREFACE[..14]) {
        return Ok(Start::Invalid);
    }
    if bytes.len() >= MAX_LOOK {
        return Ok(Start::Http1);
    }
    // Empty lines before the request line are ignored (RFC 9112 §2.2; httparse does).
    let lead = bytes
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let more = Err(bytes.len().max(lead + MIN_HTTP1 - 1) + 1);
    let bytes = &bytes[lead..];
    // method = token, then one SP.
    let method = bytes.iter().take_while(|&&b| is_tchar(b)).count();
    match bytes.get(method) {
        None => return more,
        Some(b' ') if method > 0 => {}
        Some(_) => return Ok(Start::Invalid),
    }
    // The target's start: origin-form, asterisk, an IP literal, or a scheme / host ending
    // in ':' (absolute- and authority-form).
    let target = &bytes[method + 1..];
    match target.first() {
        None => more,
        Some(b'/' | b'*' | b'[') => Ok(Start::Http1),
        Some(b) if b.is_ascii_alphanumeric() => {
            let name = target.iter().take_while(|&&b| is_scheme_char(b)).count();
            match target.get(name) {
                None => more,
                Some(b':') => Ok(Start::Http1),
                Some(_) => Ok(Start::Invalid),
            }
        }
        Some(_) => Ok(Start::Invalid),
    }
}

/// RFC 9110 §5.6.2 `tchar`.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// A scheme's characters (RFC 3986 §3.1), which also cover a host name's.
fn is_scheme_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"+-.".contains(&b)
}

/// An empty SETTINGS frame (the server's preface) and a GOAWAY: no stream processed,
/// PROTOCOL_ERROR, with a reason.
pub fn goaway_frames() -> Vec<u8> {
    const REASON: &[u8] = b"invalid connection preface";
    let mut out = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0]; // SETTINGS, empty, stream 0
    let len = 8 + REASON.len();
    out.extend_from_slice(&[0, (len >> 8) as u8, len as u8, 0x7, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&[0, 0, 0, 0]); // last stream id: none
    out.extend_from_slice(&[0, 0, 0, 0x1]); // PROTOCOL_ERROR
    out.extend_from_slice(REASON);
    out
}

/// Writes [`goaway_frames`] to `stream` (best effort: the connection is closed next).
pub async fn send_goaway<S: tokio::io::AsyncWrite + Unpin + ?Sized>(stream: &mut S) {
    let _ = stream.write_all(&goaway_frames()).await;
    let _ = stream.flush().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Classifies `bytes` as the gate does: growing prefixes, never past what it has.
    fn decide(bytes: &[u8]) -> Option<Start> {
        let mut want = MIN_HTTP1;
        loop {
            if want > bytes.len() {
                return None; // a valid start would have sent more
            }
            match classify(&bytes[..want]) {
                Ok(start) => return Some(start),
                Err(next) => {
                    assert!(next > want, "{next} after {want}");
                    want = next;
                }
            }
        }
    }

    #[test]
    fn the_preface_is_h2_and_anything_else_after_pri_is_invalid() {
        assert_eq!(decide(PREFACE), Some(Start::H2));
        assert_eq!(
            decide(b"PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n"),
            Some(Start::Invalid)
        );
        assert_eq!(
            decide(b"PRI * HTTP/1.1\r\nHost: x\r\n\r\n"),
            Some(Start::Http1)
        );
    }

    #[test]
    fn every_short_valid_http1_request_is_decided_within_its_own_bytes() {
        for req in [
            &b"A / HTTP/1.0\n\n"[..],
            b"GET /c HTTP/1.0\r\n\r\n",
            b"\r\n\r\nA / HTTP/1.0\n\n",
            b"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET http://example.com/ HTTP/1.1\r\nHost: example.com\r\n\r\n",
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n",
            b"CONNECT 127.0.0.1:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"CONNECT [::1]:443 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"VERYLONGMETHODNAMEVERYLONGMETHODNAMEVERYLONGMETHODNAMEVERYLONGMETHODNAME / HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(decide(req), Some(Start::Http1), "{}", String::from_utf8_lossy(req));
        }
    }

    #[test]
    fn neither_h2_nor_http1_is_invalid() {
        for bytes in [
            &b"INVALID CONNECTION PREFACE\r\n\r\n"[..],
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh", // a TLS ClientHello
            b" GET / HTTP/1.1\r\n\r\n",
            b"GET  / HTTP/1.1\r\n\r\n",
            b"GET \"/\" HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(
                decide(bytes),
                Some(Start::Invalid),
                "{}",
                bytes.escape_ascii()
            );
        }
    }

    #[test]
    fn the_goaway_is_well_formed() {
        let f = goaway_frames();
        assert_eq!(&f[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let len = usize::from(f[10]) << 8 | usize::from(f[11]);
        assert_eq!((f[12], len, f.len()), (7, f.len() - 18, 18 + len));
        assert_eq!(&f[18..26], &[0, 0, 0, 0, 0, 0, 0, 1]);
    }
}
