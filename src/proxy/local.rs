//! Writing a locally produced response: Pingora does not call its response filters for
//! responses written in `request_filter`, so the header and body filter chains run here.

use pingora::proxy::Session;
use pingora::Result;
use tracing::error;

use crate::config::model::PluginInstance;
use crate::plugin::{RequestCtx, Response};

/// Runs `header_filter` and `body_filter` of `chain` on `resp` and writes it to the client
/// with a correct `Content-Length`. Returns the status written.
pub async fn write_local(
    session: &mut Session,
    chain: &[PluginInstance],
    ctx: &mut RequestCtx,
    resp: Response,
) -> Result<u16> {
    let Response { mut header, body } = resp;
    let _ = header.insert_header("x-request-id", ctx.request_id.as_str());
    for p in chain {
        if let Err(e) = p.plugin.header_filter(&mut header, ctx) {
            error!(plugin = %p.name, request_id = %ctx.request_id, "header_filter failed: {e}");
        }
    }
    let mut body = Some(body);
    for p in chain {
        if let Err(e) = p.plugin.body_filter(&mut body, true, ctx) {
            error!(plugin = %p.name, request_id = %ctx.request_id, "body_filter failed: {e}");
        }
    }
    let body = body.unwrap_or_default();
    header.insert_header(http::header::CONTENT_LENGTH, body.len().to_string())?;
    let status = header.status.as_u16();
    if crate::drain::draining() {
        session.set_keepalive(None);
    }
    let head_only = session.req_header().method == http::Method::HEAD;
    let no_body = head_only || body.is_empty();
    session
        .write_response_header(Box::new(header), no_body)
        .await?;
    if !no_body {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(status)
}
