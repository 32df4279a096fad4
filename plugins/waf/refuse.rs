//! The `waf`'s answers when it refuses: a rule's block, a body too long to inspect whole,
//! a body that could be read two ways.

use edgeproxy::kit::{BoxError, Flow, RequestCtx, RequestHeader, Response};

use super::{rules, BodyLimitAction, Waf};

impl Waf {
    /// The request declares (`Content-Length`) a body longer than `body_bytes` while
    /// body rules are on: it can be refused in the access phase, before an upstream is
    /// even connected (a chunked body is found too long in the body phase, once the
    /// upstream has the request header but no body byte).
    pub(super) fn declared_too_long(&self, req: &RequestHeader) -> bool {
        self.body_bytes > 0
            && req
                .headers
                .get(http::header::CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .is_some_and(|len| len > self.body_bytes as u64)
    }

    /// A body longer than `body_bytes`: logged, and refused with 413 under `reject`
    /// (unless `detect_only`); `None` lets it go on.
    pub(super) fn too_long(&self, ctx: &RequestCtx) -> Option<Result<Flow, BoxError>> {
        if self.body_limit_action != BodyLimitAction::Reject {
            return None;
        }
        tracing::warn!(
            request_id = %ctx.request_id,
            limit = self.body_bytes,
            detect_only = self.detect_only,
            "waf: body longer than body_bytes refused (body_limit_action = \"partial\" lets it pass unread)"
        );
        if self.detect_only {
            return None;
        }
        Some(Ok(Flow::Respond(Response::error(
            413,
            "request body too large to inspect",
            &ctx.request_id,
        ))))
    }

    /// A body that could be read two ways: 400, counted as rule `body-malformed` (logged
    /// only under `detect_only`).
    pub(super) fn malformed(&self, why: &'static str, ctx: &RequestCtx) -> Result<Flow, BoxError> {
        let action = if self.detect_only { "log" } else { "block" };
        rules::MATCHES
            .with_label_values(&["body-malformed", action])
            .inc();
        tracing::warn!(request_id = %ctx.request_id, why, action, "waf: body could be read two ways");
        if self.detect_only {
            return Ok(Flow::Continue);
        }
        Ok(Flow::Respond(Response::error(
            400,
            "Bad Request: ambiguous multipart body",
            &ctx.request_id,
        )))
    }

    /// A blocking rule matched: `status` and `message`.
    pub(super) fn deny(&self, ctx: &RequestCtx) -> Result<Flow, BoxError> {
        Ok(Flow::Respond(match &self.message {
            Some(m) => Response::text(self.status, m.clone())?,
            None => Response::error(self.status, "Forbidden", &ctx.request_id),
        }))
    }
}
