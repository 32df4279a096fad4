//! The `edgeproxy` command: the library's command line with the built-in plugins.

use std::process::ExitCode;

/// jemalloc: no page-protection syscalls per request and faster small allocations than
/// glibc's per-thread arenas on the request path (see BENCHMARKS.md).
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    edgeproxy::cli::main(edgeproxy_plugins::register_builtin)
}
