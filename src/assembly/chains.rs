//! Building plugin chains and routes from their specs; a plugin that cannot be built is
//! reported at the position of its name or of the offending config value.

use std::sync::Arc;

use crate::config::{closest, Diagnostics, PluginSpec, RouteSpec};
use crate::metrics::RouteMetrics;
use crate::plugin_api::{BuildError, PluginChain, PluginInstance, Registry, Shared};
use crate::router::Route;

/// Builds plugins with one registry and one set of shared handles.
pub struct ChainBuilder<'a> {
    registry: &'a Registry,
    shared: &'a Shared,
}

impl<'a> ChainBuilder<'a> {
    /// A builder over `registry`, handing `shared` to every factory.
    pub fn new(registry: &'a Registry, shared: &'a Shared) -> Self {
        ChainBuilder { registry, shared }
    }

    /// A route of server block `block` whose chain is `server`'s plugins followed by the
    /// route's own; its metrics are resolved here, once.
    pub fn route(
        &self,
        d: &mut Diagnostics,
        block: &str,
        spec: RouteSpec,
        server: &PluginChain,
    ) -> Route {
        let own = self.build_all(d, &spec.plugins);
        Route {
            metrics: RouteMetrics::new(block, &spec.name),
            name: Arc::from(spec.name),
            hosts: spec.hosts,
            path: spec.path,
            upstream: spec.upstream.map(Arc::from),
            max_body_bytes: spec.max_body_bytes,
            compression: spec.compression,
            chain: PluginChain::new(server.all(), own),
        }
    }

    /// Builds every plugin of `specs`, in order; failures are recorded in `d`.
    pub fn build_all(&self, d: &mut Diagnostics, specs: &[PluginSpec]) -> Vec<PluginInstance> {
        specs.iter().filter_map(|p| self.build(d, p)).collect()
    }

    fn build(&self, d: &mut Diagnostics, p: &PluginSpec) -> Option<PluginInstance> {
        let fallback_span = p.config_span.clone().or(p.name_span.clone());
        match self.registry.build(&p.name, p.config.clone(), self.shared) {
            Ok(plugin) => Some(PluginInstance {
                name: Arc::from(p.name.as_str()),
                plugin,
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
