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
    Ok(())
}
