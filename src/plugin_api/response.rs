//! Locally produced responses (content phase, denials, errors).

use bytes::Bytes;
use pingora::http::ResponseHeader;

use super::BoxError;

/// A complete response produced by a plugin or the framework.
///
/// The framework always sets `Content-Length` from the body when it writes one.
#[derive(Debug)]
pub struct Response {
    /// Status line and headers.
    pub header: ResponseHeader,
    /// The whole body.
    pub body: Bytes,
}

impl Response {
    /// A response with `status` and an empty body.
    pub fn new(status: u16) -> Result<Self, BoxError> {
        Ok(Response {
            header: ResponseHeader::build(status, Some(4))?,
            body: Bytes::new(),
        })
    }

    /// A `text/plain` response.
    pub fn text(status: u16, body: impl Into<Bytes>) -> Result<Self, BoxError> {
        Self::new(status)?
            .with_header("content-type", "text/plain; charset=utf-8")
            .map(|r| r.with_body(body))
    }

    /// A `text/html` response.
    pub fn html(status: u16, body: impl Into<Bytes>) -> Result<Self, BoxError> {
        Self::new(status)?
            .with_header("content-type", "text/html; charset=utf-8")
            .map(|r| r.with_body(body))
    }

    /// Adds (appends) a header.
    pub fn with_header(mut self, name: &str, value: &str) -> Result<Self, BoxError> {
        self.header
            .append_header(name.to_string(), value.to_string())?;
        Ok(self)
    }

    /// Adds (appends) a header whose name is static and whose value is ready (no copies
    /// and no parsing: for headers built once, or on every response of a hot path).
    pub fn with_header_value(
        mut self,
        name: &'static str,
        value: http::HeaderValue,
    ) -> Result<Self, BoxError> {
        self.header.append_header(name, value)?;
        Ok(self)
    }

    /// Replaces the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The status code.
    pub fn status(&self) -> u16 {
        self.header.status.as_u16()
    }

    /// A plain-text error page naming the request id; never fails.
    pub fn error(status: u16, what: &str, request_id: &str) -> Response {
        let body = format!("{status} {what}\nrequest id: {request_id}\n");
        match Response::text(status, body.clone()) {
            Ok(r) => r,
            // Only reachable with an invalid status; fall back to a bare 500.
            Err(_) => Response::text(500, body).unwrap_or_else(|_| bare_500()),
        }
    }
}

fn bare_500() -> Response {
    let (mut parts, ()) = http::Response::new(()).into_parts();
    parts.status = http::StatusCode::INTERNAL_SERVER_ERROR;
    Response {
        header: parts.into(),
        body: Bytes::from_static(b"500 internal error\n"),
    }
}

/// A status a plugin config gives for its refusals is not an error status.
#[derive(Debug, thiserror::Error)]
#[error("status {0} is not an error status (400-599)")]
pub struct NotAnErrorStatus(pub u16);

/// Checks the status a plugin refuses requests with (`status = 429`, …): 400–599.
pub fn refusal_status(status: u16) -> Result<u16, NotAnErrorStatus> {
    match (400..=599).contains(&status) {
        true => Ok(status),
        false => Err(NotAnErrorStatus(status)),
    }
}
