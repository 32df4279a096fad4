//! The monotonic millisecond clock that passive health and failure records share.

use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds on a process-wide monotonic clock (never 0, so 0 can mean "unset").
pub(crate) fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_millis() as u64 + 1
}
