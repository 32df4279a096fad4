//! TCP/TLS stream proxying (docs/streams.md, nginx's `stream {}`): `[[streams]]` blocks
//! whose listeners (plain, TLS-terminating, or reading the ClientHello's SNI and passing
//! the TLS through) forward each connection's bytes to a member of an upstream group — the
//! same groups as HTTP: balancing, Consul-fed members, active checks, `max_fails`.
//!
//! Each connection loads the current generation once ([`StreamApp`]), so a reload in place
//! applies to every new connection (routes, groups, timeouts); listeners and connection
//! limits are fixed for the process (a change needs `-s upgrade`, `generation::check`).

mod app;
mod metrics;
mod pipe;
mod sni;
mod upstream_header;

pub use app::StreamApp;
pub use metrics::StreamMetrics;

use std::sync::Arc;

use crate::assembly::Listener;
use crate::config::{StreamHash, StreamSpec};

/// One `[[streams]]` block, ready to serve.
pub struct StreamBlock {
    /// Name (logs, metrics).
    pub name: Arc<str>,
    /// Its listeners (TLS pairs loaded).
    pub listen: Vec<Listener>,
    /// The block as configured.
    pub spec: StreamSpec,
    /// Its metrics (resolved once).
    pub metrics: Arc<StreamMetrics>,
}

impl StreamBlock {
    /// Whether connections start with reading the ClientHello's server name.
    pub fn prereads(&self) -> bool {
        !self.spec.sni_routes.is_empty() || self.spec.hash == StreamHash::Sni
    }

    /// The group for a connection with server name `sni`: the first SNI route that
    /// matches, else the block's `upstream`.
    pub fn group_for(&self, sni: Option<&str>) -> Option<&str> {
        let routed = sni.and_then(|name| {
            self.spec
                .sni_routes
                .iter()
                .find(|(pattern, _)| sni::matches(pattern, name))
        });
        routed
            .map(|(_, group)| group.as_str())
            .or(self.spec.upstream.as_deref())
    }
}
