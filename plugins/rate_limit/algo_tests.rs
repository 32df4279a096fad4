use super::*;

fn run(algo: Algorithm, state: &mut State, times: &[u64]) -> Vec<bool> {
    times
        .iter()
        .map(|&t| algo.decide(state, t).allowed)
        .collect()
}

const FIXED: Algorithm = Algorithm::Window {
    limit: 3,
    window_ms: 1000,
    sliding: false,
};
const SLIDING: Algorithm = Algorithm::Window {
    limit: 4,
    window_ms: 1000,
    sliding: true,
};

#[test]
fn fixed_window_counts_per_window() {
    let mut s = State::default();
    let got = run(FIXED, &mut s, &[10, 20, 30, 40, 999, 1000, 1001]);
    assert_eq!(got, [true, true, true, false, false, true, true]);
    let mut s = State::default();
    run(FIXED, &mut s, &[0, 1, 2]);
    let d = FIXED.decide(&mut s, 400);
    assert_eq!(
        (d.allowed, d.remaining, d.reset_ms, d.retry_ms),
        (false, 0, 600, 600)
    );
}

#[test]
fn sliding_window_weighs_the_previous_window() {
    let mut s = State::default();
    // 4 requests late in window 0.
    assert_eq!(run(SLIDING, &mut s, &[900, 910, 920, 930]), [true; 4]);
    // At 1250, 75% of window 0 still overlaps: 4 × 0.75 = 3 used, one more fits.
    let d = SLIDING.decide(&mut s, 1250);
    assert!(d.allowed);
    assert_eq!(d.remaining, 0);
    let d = SLIDING.decide(&mut s, 1250);
    assert!(!d.allowed);
    // used = 4 × 750 + 1 × 1000 = 4000 → a second one needs 1000 more shed: 250 ms.
    assert_eq!(d.retry_ms, 250);
    assert!(!SLIDING.decide(&mut s, 1499).allowed);
    assert!(SLIDING.decide(&mut s, 1500).allowed);
    // Two windows later nothing is left of either.
    let d = SLIDING.decide(&mut s, 3000);
    assert!(d.allowed);
    assert_eq!(d.remaining, 3);
}

#[test]
fn sliding_window_never_admits_more_than_the_limit_in_any_window() {
    let algo = Algorithm::Window {
        limit: 10,
        window_ms: 1000,
        sliding: true,
    };
    let mut s = State::default();
    let mut accepted = Vec::new();
    for t in (0..5000).step_by(7) {
        if algo.decide(&mut s, t).allowed {
            accepted.push(t);
        }
    }
    for start in (0..4000).step_by(50) {
        let n = accepted
            .iter()
            .filter(|&&t| t >= start && t < start + 1000)
            .count();
        assert!(n <= 12, "{n} in [{start}, {}) ", start + 1000);
    }
    // Steady overload: about the limit per window.
    let total = accepted.len() as f64 / 5.0;
    assert!((9.0..=11.0).contains(&total), "{total} per window");
}

#[test]
fn refused_window_request_retry_is_when_one_fits() {
    let algo = Algorithm::Window {
        limit: 2,
        window_ms: 1000,
        sliding: true,
    };
    let mut s = State::default();
    run(algo, &mut s, &[100, 200]);
    let d = algo.decide(&mut s, 300);
    assert!(!d.allowed);
    // Next window: prev = 2, needs 2 × (1000 − e) + 1000 ≤ 2000 → e ≥ 500.
    assert_eq!(d.retry_ms, 700 + 500);
    assert!(!algo.decide(&mut s, 1499).allowed);
    assert!(algo.decide(&mut s, 1500).allowed);
}

/// nginx `limit_req rate=2r/s burst=3 nodelay`.
const NODELAY: Algorithm = Algorithm::Bucket {
    rate_milli: 2000,
    burst: 3,
    delay: 3,
};

#[test]
fn leaky_bucket_is_nginx_limit_req() {
    let mut s = State::default();
    // 1 + burst at once, then one per 1/rate.
    assert_eq!(
        run(NODELAY, &mut s, &[0, 0, 0, 0, 0]),
        [true, true, true, true, false]
    );
    assert_eq!(s.b, 3000, "excess after 4 at once");
    assert!(!NODELAY.decide(&mut s, 499).allowed, "499 ms drains 998");
    let d = NODELAY.decide(&mut s, 500);
    assert!(d.allowed, "500 ms drains one request");
    assert_eq!((d.remaining, d.delay_ms), (0, 0));
    let d = NODELAY.decide(&mut s, 500);
    assert!(!d.allowed);
    assert_eq!(d.retry_ms, 500);
    assert_eq!(d.limit, 4);
    // After a long pause the bucket is empty.
    let d = NODELAY.decide(&mut s, 60_000);
    assert_eq!((d.allowed, d.remaining, d.reset_ms), (true, 3, 0));
}

#[test]
fn without_nodelay_burst_requests_are_delayed() {
    let algo = Algorithm::Bucket {
        rate_milli: 10_000, // 10r/s
        burst: 5,
        delay: 0,
    };
    let mut s = State::default();
    let delays: Vec<u64> = (0..7)
        .map(|_| algo.decide(&mut s, 0))
        .map(|d| d.delay_ms)
        .collect();
    assert_eq!(delays, [0, 100, 200, 300, 400, 500, 0]);
    let two_stage = Algorithm::Bucket {
        rate_milli: 10_000,
        burst: 5,
        delay: 2,
    };
    let mut s = State::default();
    let delays: Vec<u64> = (0..5)
        .map(|_| two_stage.decide(&mut s, 0).delay_ms)
        .collect();
    assert_eq!(delays, [0, 0, 0, 100, 200], "nginx delay=2");
}

#[test]
fn per_minute_rates_and_burst_zero() {
    let algo = Algorithm::Bucket {
        rate_milli: 30_000 / 60, // 30r/m
        burst: 0,
        delay: 0,
    };
    let mut s = State::default();
    assert_eq!(
        run(algo, &mut s, &[0, 1000, 1999, 2000]),
        [true, false, false, true]
    );
    let d = algo.decide(&mut s, 2500);
    assert_eq!((d.allowed, d.retry_ms), (false, 1500));
}
