//! Response helpers shared by the admin plugins (`admin-token`, `cache-purge`, `metrics`,
//! `upstream-status`): JSON bodies, JSON errors and 405s. Not a plugin itself.

use edgeproxy::kit::RequestHeader;
use edgeproxy::kit::{BoxError, Response};
use serde::Serialize;

/// A JSON response with `status`; admin answers are never cached.
pub fn json(status: u16, body: &impl Serialize) -> Result<Response, BoxError> {
    let mut bytes = serde_json::to_vec(body)?;
    bytes.push(b'\n');
    Ok(Response::new(status)?
        .with_header("content-type", "application/json")?
        .with_header("cache-control", "no-store")?
        .with_body(bytes))
}

/// `{"error": message}` with `status`.
pub fn error(status: u16, message: &str) -> Result<Response, BoxError> {
    json(status, &serde_json::json!({ "error": message }))
}

/// The content phase of a read-only status route (`/status/hot`, `/status/upstreams`,
/// `/status/config`): 405 for methods other than GET and HEAD, else `document()` as JSON.
pub fn status_document<T: serde::Serialize>(
    req: &RequestHeader,
    document: impl FnOnce() -> T,
) -> Result<Option<Response>, BoxError> {
    if let Some(resp) = check_method(req, &["GET", "HEAD"])? {
        return Ok(Some(resp));
    }
    json(200, &document()).map(Some)
}

/// `None` when the request's method is one of `allowed`, else a 405 with `Allow`.
pub fn check_method(req: &RequestHeader, allowed: &[&str]) -> Result<Option<Response>, BoxError> {
    let method = req.method.as_str();
    if allowed.contains(&method) {
        return Ok(None);
    }
    let allow = allowed.join(", ");
    let msg = format!("method {method} not allowed here; use {allow}");
    Ok(Some(error(405, &msg)?.with_header("allow", &allow)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_body_and_headers() {
        let r = json(200, &serde_json::json!({ "a": 1 })).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(&r.body[..], b"{\"a\":1}\n");
        assert_eq!(r.header.headers["content-type"], "application/json");
    }

    #[test]
    fn wrong_method_is_405_with_allow() {
        let req = RequestHeader::build("GET", b"/purge", None).unwrap();
        let r = check_method(&req, &["POST"]).unwrap().unwrap();
        assert_eq!(r.status(), 405);
        assert_eq!(r.header.headers["allow"], "POST");
        let req = RequestHeader::build("POST", b"/purge", None).unwrap();
        assert!(check_method(&req, &["POST"]).unwrap().is_none());
    }
}
