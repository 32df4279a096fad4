//! Building plugin chains and routes from their specs; a plugin that cannot be built is
//! reported at the position of its name or of the offending config value.

use std::sync::Arc;

use super::Fingerprints;
use crate::config::{closest, Diagnostics, PluginSpec, RouteSpec};
use crate::http_cache::RouteCache;
use crate::metrics::RouteMetrics;
use crate::plugin_api::{BuildError, PluginChain, PluginInstance, Registry, Shared};
use crate::router::Route;

/// The response caches of a config, by `[caches.NAME]` name.
pub type HttpCaches = std::collections::BTreeMap<String, Arc<crate::http_cache::ResponseCache>>;

/// Builds plugins with one registry and one set of shared handles.
pub struct ChainBuilder<'a> {
    registry: &'a Registry,
    shared: &'a Shared,
    prints: &'a Fingerprints,
}

impl<'a> ChainBuilder<'a> {
    /// A builder over `registry`, handing `shared` to every factory (with the instance's
    /// identity across reloads set in `shared.carry`).
    pub fn new(registry: &'a Registry, shared: &'a Shared, prints: &'a Fingerprints) -> Self {
        ChainBuilder {
            registry,
            shared,
            prints,
        }
    }

    /// A route of server block `block` whose chain is `server`'s plugins followed by the
    /// route's own; its metrics are resolved here, once.
    pub fn route(
        &self,
        d: &mut Diagnostics,
        block: &str,
        spec: RouteSpec,
        server: &PluginChain,
        http_caches: &HttpCaches,
    ) -> Route {
        let at = format!("server:{block}/route:{}", spec.name);
        let own = self.build_all(d, &at, &spec.plugins);
        // The name was checked when the file was read.
        let cache = spec.cache.and_then(|c| {
            http_caches.get(&c.cache).map(|cache| RouteCache {
                cache: cache.clone(),
                key: c.key,
            })
        });
        Route {
            cache,
            metrics: RouteMetrics::new(block, &spec.name),
            name: Arc::from(spec.name),
            hosts: spec.hosts,
            path: spec.path,
            upstream: spec.upstream.map(Arc::from),
            max_body_bytes: spec.max_body_bytes,
            compression: spec.compression,
            chain: PluginChain::new(server.all(), own),
            grpc_web: spec.grpc_web,
        }
    }

    /// Builds every plugin of `specs` (written at `at`: `server:NAME` or
    /// `server:NAME/route:NAME`), in order; failures are recorded in `d`.
    pub fn build_all(
        &self,
        d: &mut Diagnostics,
        at: &str,
        specs: &[PluginSpec],
    ) -> Vec<PluginInstance> {
        specs
            .iter()
            .enumerate()
            .filter_map(|(i, p)| self.build(d, &instance_identity(at, i, p), p))
            .collect()
    }

    fn build(&self, d: &mut Diagnostics, identity: &str, p: &PluginSpec) -> Option<PluginInstance> {
        let fallback_span = p.config_span.clone().or(p.name_span.clone());
        let mut shared = self.shared.clone();
        shared.carry = shared
            .carry
            .for_instance(identity, self.prints.value(&p.config));
        shared.chose_upstream = Default::default();
        match self.registry.build(&p.name, p.config.clone(), &shared) {
            Ok(plugin) => Some(PluginInstance {
                name: Arc::from(p.name.as_str()),
                plugin,
                chooses_upstream: shared.chose_upstream.clone(),
            }),
            Err(BuildError::Unknown { name, known }) => {
                let hint = match closest(&name, known.iter().copied()) {
                    Some(c) => format!("did you mean `{c}`?"),
                    None => format!("registered plugins: {}", known.join(", ")),
                };
                d.push(
                    p.name_span.clone(),
                    format!("unknown plugin `{name}`"),
                    Some(hint),
                );
                None
            }
            Err(BuildError::Config {
                plugin,
                message,
                span,
            }) => {
                d.error(
                    span.or(fallback_span),
                    format!("plugin `{plugin}`: {message}"),
                );
                None
            }
            Err(e @ BuildError::Build { .. }) => {
                d.error(fallback_span, one_line(&e.to_string()));
                None
            }
        }
    }
}

/// A plugin instance's identity across reloads: `id:ID` when its entry has an `id`, else
/// its position and name (`server:edge/route:api/#1:rate-limit`).
fn instance_identity(at: &str, index: usize, p: &PluginSpec) -> String {
    match &p.id {
        Some(id) => format!("id:{id}/{}", p.name),
        None => format!("{at}/#{index}:{}", p.name),
    }
}

/// Folds a multi-line message (e.g. a regex error with a caret diagram) into one line.
fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    match (lines.first(), lines.last()) {
        (Some(first), Some(last)) if lines.len() > 1 => format!(
            "{}: {}",
            first.trim_end_matches(':'),
            last.trim_start_matches("error: ")
        ),
        _ => s.trim().to_string(),
    }
}
