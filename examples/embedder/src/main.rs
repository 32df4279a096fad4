//! A program that embeds edgeproxy: the built-in plugins plus its own `hello` and `visits`
//! plugins, with edgeproxy's command line (`-c -t -s -u -d`) and logging.
//!
//! `cargo run -p edgeproxy-embedder-example -- -c examples/embedder/embedder.toml`

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use edgeproxy::kit::serde::Deserialize;
use edgeproxy::kit::*;

/// `hello`: answers `Hello, <name>!` in the content phase.
struct Hello {
    greeting: String,
}

/// Config of `hello`; unknown keys are errors reported at their file:line:col.
#[derive(Deserialize)]
#[serde(crate = "edgeproxy::kit::serde", deny_unknown_fields)]
struct HelloConfig {
    name: String,
}

impl PluginFactory for Hello {
    const NAME: &'static str = "hello";
    type Config = HelloConfig;

    fn build(cfg: HelloConfig, _shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        let greeting = format!("Hello, {}!\n", cfg.name);
        Ok(Arc::new(Hello { greeting }))
    }
}

#[async_trait]
impl Plugin for Hello {
    async fn content(
        &self,
        _req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        Ok(Some(Response::text(200, self.greeting.clone())?))
    }
}

/// `visits`: answers `visit N` — a counter that survives `-s reload` while the plugin's
/// config is unchanged (the example of README's plugin section).
struct Visits {
    count: Arc<AtomicU64>,
    label: String,
}

/// Config of `visits`: a label for the answer; changing it starts a new count.
#[derive(Deserialize)]
#[serde(crate = "edgeproxy::kit::serde", deny_unknown_fields)]
struct VisitsConfig {
    #[serde(default = "default_label")]
    label: String,
}

fn default_label() -> String {
    "visit".into()
}

impl PluginFactory for Visits {
    const NAME: &'static str = "visits";
    type Config = VisitsConfig;

    fn build(cfg: VisitsConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        // The previous generation's counter when this instance's config is unchanged.
        let count = shared.carry(shared.carry.config(), || AtomicU64::new(0));
        Ok(Arc::new(Visits {
            count,
            label: cfg.label,
        }))
    }
}

#[async_trait]
impl Plugin for Visits {
    async fn content(
        &self,
        _req: &RequestHeader,
        _ctx: &mut RequestCtx,
    ) -> Result<Option<Response>, BoxError> {
        let n = self.count.fetch_add(1, Ordering::Relaxed) + 1;
        Ok(Some(Response::text(200, format!("{} {n}\n", self.label))?))
    }
}

fn main() -> ExitCode {
    edgeproxy::cli::main(|registry| {
        edgeproxy_plugins::register_builtin(registry);
        registry.register::<Hello>().register::<Visits>();
    })
}
