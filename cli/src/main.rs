//! The `edgeproxy` command: the library's command line with the built-in plugins.

use std::process::ExitCode;

/// jemalloc: no page-protection syscalls per request and faster small allocations than
/// glibc's per-thread arenas on the request path (see BENCHMARKS.md).
#[cfg(not(feature = "mimalloc"))]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// mimalloc (feature `mimalloc`), to compare allocators (BENCHMARKS.md).
#[cfg(feature = "mimalloc")]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// jemalloc options, read by jemalloc at start (`malloc_conf`, a C string): the thread cache
/// also keeps blocks up to 128 KiB, so Pingora's 64 KiB buffer for each upstream response
/// body comes from the cache instead of the arena (2.7 % fewer instructions per proxied
/// request, BENCHMARKS.md). `_RJEM_MALLOC_CONF` in the environment still overrides it.
#[export_name = "_rjem_malloc_conf"]
static MALLOC_CONF: Option<&'static u8> = Some(&b"tcache_max:131072\0"[0]);

fn main() -> ExitCode {
    edgeproxy::cli::main(edgeproxy_plugins::register_builtin)
}
