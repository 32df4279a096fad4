//! The plugin API: one async method per request phase, each defaulting to "do nothing".
//!
//! Plugins see the request header and a [`RequestCtx`], never the Pingora session, so they
//! can be unit-tested without I/O. Expected denials are [`Flow::Respond`], not errors; an
//! error from a plugin becomes a 500 carrying the request id, logged with the plugin's name.

mod body;
mod chain;
mod config_types;
mod ctx;
pub mod lifecycle;
mod registry;
mod response;

pub use body::{RequestBody, MAX_REQUEST_BODY_BYTES};
pub use chain::{
    run_access, run_body_filter, run_content, run_header_filter, run_request_body, run_rewrite,
    FilterError, PluginChain, PluginInstance,
};
pub use config_types::{de_duration, de_opt_duration};
pub use ctx::{LogEntry, RequestCtx};
pub use lifecycle::{Background, PluginCarry};
pub use registry::{
    BuildError, Caches, PluginFactory, Registry, Shared, UnknownUpstream, UpstreamRef,
};
pub use response::{refusal_status, NotAnErrorStatus, Response};

use async_trait::async_trait;
use bytes::Bytes;
use pingora::http::{RequestHeader, ResponseHeader};

/// The error type plugins return: anything that implements `std::error::Error`.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a request phase decided.
// `Respond` is much larger than `Continue`, but a Flow is only ever returned and matched,
// never stored; boxing would cost an allocation per local answer for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Flow {
    /// Go on with the next plugin, then the next phase.
    Continue,
    /// Answer now with this response; later request phases are skipped, but the
    /// header filter, body filter and log phases still run for it.
    Respond(Response),
}

/// A request-phase plugin. Implement only the phases you need.
///
/// Phase order for each request: `rewrite` → `access` → `request_body` (only for plugins
/// that ask for the body, on requests that have one) → `content` → (proxy to upstream) →
/// `header_filter` → `body_filter` (per chunk) → `log` (exactly once, always).
#[async_trait]
pub trait Plugin: Send + Sync + 'static {
    /// Rewrite phase: change the URI or request headers before routing decisions downstream.
    async fn rewrite(
        &self,
        _req: &mut RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Flow, BoxError> {
        Ok(Flow::Continue)
    }

    /// Access phase: allow (`Continue`) or deny (`Respond` with e.g. 401/403).
    async fn access(&self, _req: &RequestHeader, _ctx: &mut RequestCtx) -> Result<Flow, BoxError> {
        Ok(Flow::Continue)
    }

    /// How many bytes of a request body this plugin wants to see in
    /// [`request_body`](Self::request_body); 0 (the default) = it does not look at bodies.
    /// Asked once, when the plugin chain is built; capped at [`MAX_REQUEST_BODY_BYTES`].
    fn request_body_bytes(&self) -> usize {
        0
    }

    /// Request body phase: after `access`, before `content`, with the start of the body
    /// (see [`RequestBody`]); nothing of the request has gone upstream yet, so `Respond`
    /// refuses it cleanly. Runs only when the request has a body and
    /// [`request_body_bytes`](Self::request_body_bytes) is above 0.
    async fn request_body(
        &self,
        _req: &RequestHeader,
        _body: &RequestBody,
        _ctx: &mut RequestCtx,
    ) -> Result<Flow, BoxError> {
        Ok(Flow::Continue)
    }

    /// Content phase: produce the response locally (`Some`), or let the next plugin or
    /// the upstream answer (`None`).
    async fn content(
        &self,
        _req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        Ok(None)
    }

    /// Header filter: edit the response header, for proxied and local responses alike.
    fn header_filter(
        &self,
        _resp: &mut ResponseHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    /// Body filter: called per body chunk; `eos` marks the last call.
    fn body_filter(
        &self,
        _body: &mut Option<Bytes>,
        _eos: bool,
        _ctx: &mut RequestCtx,
    ) -> Result<(), BoxError> {
        Ok(())
    }

    /// Log phase: runs exactly once per request, after the response is done.
    async fn log(&self, _entry: &LogEntry<'_>, _ctx: &RequestCtx) {}
}
