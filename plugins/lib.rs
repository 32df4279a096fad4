//! edgeproxy's built-in plugins, as a library for the `edgeproxy` binary and for programs
//! that embed edgeproxy. They use only the public API of the `edgeproxy` crate, exactly as
//! a user's plugin would. [`register_builtin`] is the one list.

pub mod access_log;
pub mod admin_token;
pub mod cache_purge;
pub mod config_status;
pub mod gray_release;
pub mod hot_status;
pub mod ip_restriction;
pub mod json_api;
pub mod jwt_auth;
pub mod kafka_log;
pub mod key_auth;
pub mod metrics;
pub mod page;
pub mod rate_limit;
pub mod redirect;
pub mod respond;
pub mod response_headers;
pub mod rewrite;
pub mod support;
pub mod upstream_status;
pub mod waf;

use edgeproxy::kit::Registry;

/// Registers every built-in plugin.
pub fn register_builtin(registry: &mut Registry) {
    registry
        .register::<rewrite::Rewrite>()
        .register::<redirect::Redirect>()
        .register::<respond::Respond>()
        .register::<response_headers::ResponseHeaders>()
        .register::<access_log::AccessLog>()
        .register::<kafka_log::KafkaLog>()
        .register::<key_auth::KeyAuth>()
        .register::<jwt_auth::JwtAuth>()
        .register::<ip_restriction::IpRestriction>()
        .register::<waf::Waf>()
        .register::<rate_limit::RateLimit>()
        .register::<gray_release::GrayRelease>()
        .register::<json_api::JsonApi>()
        .register::<page::Page>()
        .register::<admin_token::AdminToken>()
        .register::<cache_purge::CachePurge>()
        .register::<metrics::Metrics>()
        .register::<upstream_status::UpstreamStatus>()
        .register::<hot_status::HotStatus>()
        .register::<config_status::ConfigStatusPlugin>();
}

/// A `Shared` with no upstreams, for plugin unit tests.
#[cfg(test)]
pub fn test_shared() -> edgeproxy::kit::Shared {
    edgeproxy::kit::Shared {
        config_dir: std::path::PathBuf::from("."),
        upstreams: Default::default(),
        caches: Default::default(),
        check_only: true,
        node_name: "test-node".into(),
        hot: Default::default(),
        carry: Default::default(),
        chose_upstream: Default::default(),
    }
}
