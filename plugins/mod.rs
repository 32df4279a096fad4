//! Built-in and example plugins, compiled into the binary with
//! `#[path = "../plugins/mod.rs"] mod plugins;`. They use only the public API, exactly as a
//! user's plugin would. [`register`] is the one list the binary knows.

pub mod access_log;
pub mod admin_response;
pub mod admin_token;
pub mod cache_purge;
pub mod json_api;
pub mod key_auth;
pub mod metrics;
pub mod page;
pub mod respond;
pub mod response_headers;
pub mod rewrite;
pub mod upstream_status;

use edgeproxy::plugin_api::Registry;

/// Registers every built-in plugin.
pub fn register(registry: &mut Registry) {
    registry
        .register::<rewrite::Rewrite>()
        .register::<respond::Respond>()
        .register::<response_headers::ResponseHeaders>()
        .register::<access_log::AccessLog>()
        .register::<key_auth::KeyAuth>()
        .register::<json_api::JsonApi>()
        .register::<page::Page>()
        .register::<admin_token::AdminToken>()
        .register::<cache_purge::CachePurge>()
        .register::<metrics::Metrics>()
        .register::<upstream_status::UpstreamStatus>();
}

/// A `Shared` with no upstreams, for plugin unit tests.
#[cfg(test)]
pub fn test_shared() -> edgeproxy::plugin_api::Shared {
    edgeproxy::plugin_api::Shared {
        config_dir: std::path::PathBuf::from("."),
        upstreams: Default::default(),
        caches: Default::default(),
        check_only: true,
    }
}
