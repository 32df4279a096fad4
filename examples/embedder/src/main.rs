//! A program that embeds edgeproxy: the built-in plugins plus its own `hello` plugin, with
//! edgeproxy's command line (`-c -t -u -d`) and logging.
//!
//! `cargo run -p edgeproxy-embedder-example -- -c examples/embedder/embedder.toml`

use std::process::ExitCode;
use std::sync::Arc;

use edgeproxy::kit::*;
use edgeproxy::kit::serde::Deserialize;

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

fn main() -> ExitCode {
    edgeproxy::cli::main(|registry| {
        edgeproxy_plugins::register_builtin(registry);
        registry.register::<Hello>();
    })
}
