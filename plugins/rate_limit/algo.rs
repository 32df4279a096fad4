//! The limiting algorithms, as pure functions of a key's state and the time in
//! milliseconds, so they are tested without clocks and the Redis scripts (`redis.rs`) can
//! be checked against them:
//!
//! - **Window count** (`fixed_window`, `sliding_window`): at most `limit` requests per
//!   `window`. The sliding window is the two-counter estimate (the previous window's count
//!   weighted by how much of it still overlaps the last `window`, plus the current count):
//!   an estimate that takes the previous window's requests as evenly spread. Counting is
//!   scaled by the window length, so it is integer arithmetic (the same in Lua).
//! - **Leaky bucket** (`leaky_bucket`): nginx `limit_req` exactly (`ngx_http_limit_req_module.c`):
//!   `excess` in thousandths of a request, drained at `rate`, one request adds 1000; over
//!   `burst` × 1000 the request is refused and the state is left as it was; otherwise it
//!   passes after `excess / rate` (nothing with `nodelay`; only beyond `delay` requests with
//!   `delay = N`).

/// How a rule counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    /// At most `limit` per `window_ms`, `sliding` or fixed.
    Window {
        /// Requests per window.
        limit: u64,
        /// Window length in milliseconds.
        window_ms: u64,
        /// Weight the previous window in (sliding) or not (fixed).
        sliding: bool,
    },
    /// nginx `limit_req`.
    Bucket {
        /// Rate in thousandths of a request per second (nginx's unit: `10r/s` = 10000).
        rate_milli: u64,
        /// Requests beyond the rate accepted at once.
        burst: u64,
        /// Requests of the burst passed without delay (`nodelay` = `burst`).
        delay: u64,
    },
}

/// One key's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct State {
    /// Window: index of the current window. Bucket: time of the last accepted request (ms).
    pub a: u64,
    /// Window: requests counted in the current window. Bucket: excess (thousandths).
    pub b: u64,
    /// Window: requests counted in the previous window. Bucket: unused.
    pub c: u64,
    /// Whether the state has ever been written (a fresh key has no last time).
    pub seen: bool,
}

/// What a rule decided for one request, with the numbers its headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    /// The request is within the limit.
    pub allowed: bool,
    /// `RateLimit-Limit`: requests per window, or `burst + 1` for a bucket.
    pub limit: u64,
    /// `RateLimit-Remaining`, after this request.
    pub remaining: u64,
    /// `RateLimit-Reset`: milliseconds until the quota is whole again (window end, or the
    /// bucket drained).
    pub reset_ms: u64,
    /// For a refused request: milliseconds until one would pass (`Retry-After`).
    pub retry_ms: u64,
    /// For an accepted request: how long to hold it (a bucket without `nodelay`).
    pub delay_ms: u64,
}

impl Algorithm {
    /// Decides one request at `now_ms`, updating `state` when it is accepted.
    pub fn decide(&self, state: &mut State, now_ms: u64) -> Decision {
        match *self {
            Algorithm::Window {
                limit,
                window_ms,
                sliding,
            } => {
                let (idx, elapsed) = (now_ms / window_ms, now_ms % window_ms);
                let (cur, prev) = roll(state, idx, sliding);
                let allowed = window_allows(limit, window_ms, cur, prev, elapsed);
                let cur = cur + u64::from(allowed);
                if allowed {
                    *state = State {
                        a: idx,
                        b: cur,
                        c: prev,
                        seen: true,
                    };
                }
                window_decision((limit, window_ms, sliding), cur, prev, elapsed, allowed)
            }
            Algorithm::Bucket {
                rate_milli,
                burst,
                delay,
            } => {
                let (last, excess) = match state.seen {
                    true => (state.a, state.b),
                    false => (now_ms, 0),
                };
                let ms = now_ms.saturating_sub(last);
                let drained = rate_milli.saturating_mul(ms) / 1000;
                let new_excess = match state.seen {
                    true => (excess + 1000).saturating_sub(drained),
                    // nginx: a new node starts at excess 0.
                    false => 0,
                };
                let allowed = new_excess <= burst * 1000;
                if allowed {
                    let a = if ms > 0 || !state.seen { now_ms } else { last };
                    *state = State {
                        a,
                        b: new_excess,
                        c: 0,
                        seen: true,
                    };
                }
                bucket_decision(rate_milli, burst, delay, new_excess, allowed)
            }
        }
    }
}

/// The window counts `(current, previous)` at window `idx` (previous only when sliding).
fn roll(state: &State, idx: u64, sliding: bool) -> (u64, u64) {
    let (cur, prev) = match state.seen {
        false => (0, 0),
        true if state.a == idx => (state.b, state.c),
        true if state.a + 1 == idx => (0, state.b),
        true => (0, 0),
    };
    (cur, if sliding { prev } else { 0 })
}

/// Whether one more request fits: `prev × (W − elapsed) + (cur + 1) × W ≤ limit × W`.
pub fn window_allows(limit: u64, w: u64, cur: u64, prev: u64, elapsed: u64) -> bool {
    prev * (w - elapsed) + (cur + 1) * w <= limit * w
}

/// The decision's numbers for a window rule, from the counts after the request.
pub fn window_decision(
    (limit, w, sliding): (u64, u64, bool),
    cur: u64,
    prev: u64,
    elapsed: u64,
    allowed: bool,
) -> Decision {
    let used = prev * (w - elapsed) + cur * w;
    let remaining = (limit * w).saturating_sub(used) / w;
    let reset_ms = w - elapsed;
    let retry_ms = match allowed {
        true => 0,
        false => window_retry(limit, w, cur, prev, elapsed, sliding),
    };
    Decision {
        allowed,
        limit,
        remaining,
        reset_ms,
        retry_ms,
        delay_ms: 0,
    }
}

/// Milliseconds until one more request fits, for a refused one.
fn window_retry(limit: u64, w: u64, cur: u64, prev: u64, elapsed: u64, sliding: bool) -> u64 {
    // Within this window only the previous window's weight shrinks, by `prev` a ms.
    if prev > 0 && cur < limit {
        let need = prev * (w - elapsed) + (cur + 1) * w - limit * w;
        let wait = need.div_ceil(prev);
        if elapsed + wait < w {
            return wait.max(1);
        }
    }
    // In the next window this window's count is the previous one, weighing less and less:
    // `cur × (W − e) + W ≤ limit × W` from `e = W − (limit − 1) × W / cur` on.
    let to_next = w - elapsed;
    match (sliding, cur) {
        (false, _) | (true, 0) => to_next,
        (true, cur) => to_next + w.saturating_sub((limit - 1) * w / cur),
    }
}

/// The decision's numbers for a bucket rule, from the excess after the request (or the
/// excess it would have had, when refused).
pub fn bucket_decision(
    rate_milli: u64,
    burst: u64,
    delay: u64,
    excess: u64,
    allowed: bool,
) -> Decision {
    let rate = rate_milli.max(1);
    let (remaining, reset_ms, retry_ms, delay_ms) = match allowed {
        true => (
            (burst * 1000 - excess) / 1000,
            (excess * 1000).div_ceil(rate),
            0,
            (excess.saturating_sub(delay * 1000) * 1000) / rate,
        ),
        false => (
            0,
            (excess.saturating_sub(1000) * 1000).div_ceil(rate),
            ((excess - burst * 1000) * 1000).div_ceil(rate).max(1),
            0,
        ),
    };
    Decision {
        allowed,
        limit: burst + 1,
        remaining,
        reset_ms,
        retry_ms,
        delay_ms,
    }
}

#[cfg(test)]
#[path = "algo_tests.rs"]
mod tests;
