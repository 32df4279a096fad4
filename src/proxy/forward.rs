//! Request headers added when forwarding upstream.

use std::net::{IpAddr, SocketAddr};

use pingora::http::RequestHeader;
use pingora::Result;

/// Parsed once (a `&str` name is parsed on every lookup).
static X_FORWARDED_FOR: http::HeaderName = http::HeaderName::from_static("x-forwarded-for");

/// Sets `X-Forwarded-For` (appending the client), `X-Real-IP` and `X-Request-Id`.
pub fn add_forwarding_headers(
    req: &mut RequestHeader,
    client: Option<SocketAddr>,
    request_id: &str,
) -> Result<()> {
    if let Some(addr) = client {
        let ip = ip_text(addr.ip());
        let xff = match req
            .headers
            .get(&X_FORWARDED_FOR)
            .and_then(|v| v.to_str().ok())
        {
            Some(prev) if !prev.trim().is_empty() => format!("{prev}, {ip}"),
            _ => ip.clone(),
        };
        req.insert_header("x-forwarded-for", xff)?;
        req.insert_header("x-real-ip", ip)?;
    }
    req.insert_header("x-request-id", request_id)?;
    canonical_length(req)
}

/// `ip` as text. An IPv4 address is written digit by digit: `Display` goes through the
/// formatting machinery (~1,500 instructions per request on the proxied path, measured with
/// callgrind; this is ~100).
fn ip_text(ip: IpAddr) -> String {
    let IpAddr::V4(v4) = ip else {
        return ip.to_string();
    };
    let mut out = String::with_capacity(15);
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
    out
}

/// Writes `Content-Length` in canonical digits (`005` becomes `5`), as nginx does: Pingora
/// checked the value (one, digits only) and forwards it as received otherwise.
fn canonical_length(req: &mut RequestHeader) -> Result<()> {
    let Some(value) = req.headers.get(http::header::CONTENT_LENGTH) else {
        return Ok(());
    };
    let Some(n) = value
        .to_str()
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
    else {
        return Ok(());
    };
    if value.as_bytes() != n.to_string().as_bytes() {
        req.insert_header(http::header::CONTENT_LENGTH, n.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.100.255",
            "1.2.3.4",
            "255.255.255.255",
            "::1",
            "fe80::1:2",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(ip_text(ip), ip.to_string());
        }
    }

    #[test]
    fn content_length_is_forwarded_in_canonical_digits() {
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        req.insert_header("content-length", "005").unwrap();
        add_forwarding_headers(&mut req, None, "id").unwrap();
        assert_eq!(req.headers["content-length"], "5");
        let mut none = RequestHeader::build("GET", b"/", None).unwrap();
        add_forwarding_headers(&mut none, None, "id").unwrap();
        assert!(none.headers.get("content-length").is_none());
    }
}
