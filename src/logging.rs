//! Log output: `tracing` events to stderr (or the daemon's `error_log`), filtered by the
//! `EDGEPROXY_LOG` environment variable (`RUST_LOG` syntax; default `info`).

/// Installs the global subscriber once; later calls (or a subscriber the embedding program
/// installed first) are left alone.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("EDGEPROXY_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // No colour codes in files, journals and pipes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
