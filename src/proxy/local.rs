//! Writing a locally produced response: Pingora does not call its response filters for
//! responses written in `request_filter`, so the header and body filter chains run here.
//! A gRPC request's answer is written as a gRPC error (`grpc::trailers_only`).

use pingora::http::ResponseHeader;
use pingora::protocols::http::HttpTask;
use pingora::proxy::Session;
use pingora::Result;

use crate::plugin_api::{run_body_filter, run_header_filter, PluginInstance, RequestCtx, Response};

/// What the 500 that replaces a response whose filter failed says.
pub const FILTER_FAILED: &str = "internal error in a response plugin";

/// Runs `header_filter` and `body_filter` of `chain` on `resp` and writes it to the client
/// with a correct `Content-Length`. Returns the status written.
///
/// A failing filter (logged with its plugin's name) replaces the response with a 500, as
/// for a proxied response, and the filters are not run on that 500.
pub async fn write_local(
    session: &mut Session,
    chain: &[PluginInstance],
    ctx: &mut RequestCtx,
    resp: Response,
) -> Result<u16> {
    let (mut header, body) = match filtered(chain, ctx, resp) {
        Some(r) => (r.header, r.body),
        None => {
            let mut r = Response::error(500, FILTER_FAILED, &ctx.request_id);
            let _ = r
                .header
                .insert_header("x-request-id", ctx.request_id.as_str());
            (r.header, r.body)
        }
    };
    // A gRPC client reads no error page: the answer goes out as gRPC.
    if crate::grpc::is_grpc(&session.req_header().headers) {
        return write_grpc(session, ctx, &header, &body).await;
    }
    header.insert_header(
        http::header::CONTENT_LENGTH,
        http::HeaderValue::from(body.len()),
    )?;
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

/// A local answer to a gRPC call, as gRPC: over HTTP/2 a header and trailers carrying
/// `grpc-status`, through the downstream modules (so the gRPC-Web translation encodes
/// the trailers into the body, on HTTP/1 too); otherwise over HTTP/1 trailers-only, the
/// status in the header.
async fn write_grpc(
    session: &mut Session,
    ctx: &mut RequestCtx,
    header: &ResponseHeader,
    body: &[u8],
) -> Result<u16> {
    let (mut header, code) = crate::grpc::trailers_only(header, body)?;
    ctx.grpc_status = Some(code.as_u32());
    let h2 = session.req_header().version == http::Version::HTTP_2;
    if !h2 && !super::grpc::web_on(session) {
        header.insert_header(http::header::CONTENT_LENGTH, "0")?;
        session
            .write_response_header(Box::new(header), true)
            .await?;
        return Ok(200);
    }
    let (head, trailers) = crate::grpc::split_status(header);
    let tasks = vec![
        HttpTask::Header(Box::new(head), false),
        HttpTask::Trailer(Some(Box::new(trailers))),
    ];
    session.write_response_tasks(tasks).await?;
    Ok(200)
}

/// `resp` after the header and body filters of `chain`; `None` when one of them failed.
fn filtered(chain: &[PluginInstance], ctx: &mut RequestCtx, resp: Response) -> Option<Response> {
    let Response { mut header, body } = resp;
    let _ = header.insert_header("x-request-id", ctx.request_id.as_str());
    run_header_filter(chain, &mut header, ctx).ok()?;
    let mut body = Some(body);
    run_body_filter(chain, &mut body, true, ctx).ok()?;
    Some(Response {
        header,
        body: body.unwrap_or_default(),
    })
}
