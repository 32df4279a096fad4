//! Request headers added when forwarding upstream.

use std::net::SocketAddr;

use pingora::http::RequestHeader;
use pingora::Result;

/// Sets `X-Forwarded-For` (appending the client), `X-Real-IP` and `X-Request-Id`.
pub fn add_forwarding_headers(
    req: &mut RequestHeader,
    client: Option<SocketAddr>,
    request_id: &str,
) -> Result<()> {
    if let Some(addr) = client {
        let ip = addr.ip().to_string();
        let xff = match req
            .headers
            .get("x-forwarded-for")
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
