//! Temporary switches for the performance experiments of issue 12, read once from the
//! environment (`EDGEPROXY_EXP_*`); each is measured in BENCHMARKS.md and then either
//! becomes the code's behaviour or goes away.

use once_cell::sync::Lazy;

/// The switches in force.
#[derive(Debug, Default)]
pub struct Experiments {
    /// L4 read buffer of listeners (`EDGEPROXY_EXP_L4_READ`, bytes; Pingora: 64 KiB).
    pub l4_read: Option<usize>,
    /// L4 write buffer of listeners (`EDGEPROXY_EXP_L4_WRITE`, bytes; Pingora: 1460).
    pub l4_write: Option<usize>,
    /// The header clock on Pingora's shared 10 ms timers instead of a tokio sleep
    /// (`EDGEPROXY_EXP_FAST_CLOCK=1`).
    pub fast_clock: bool,
    /// No idle timeout on upstream keep-alive connections (`EDGEPROXY_EXP_NO_IDLE=1`).
    pub no_upstream_idle_timeout: bool,
}

fn num(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.parse().ok()
}

/// The switches, read at first use.
pub static EXP: Lazy<Experiments> = Lazy::new(|| Experiments {
    l4_read: num("EDGEPROXY_EXP_L4_READ"),
    l4_write: num("EDGEPROXY_EXP_L4_WRITE"),
    fast_clock: std::env::var("EDGEPROXY_EXP_FAST_CLOCK").is_ok_and(|v| v == "1"),
    no_upstream_idle_timeout: std::env::var("EDGEPROXY_EXP_NO_IDLE").is_ok_and(|v| v == "1"),
});
