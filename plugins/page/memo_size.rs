//! How big the render cache (`memo.rs`) should be: judged from the share of lookups its
//! pages answered over the last [`WINDOW`] lookups, and from whether it is full.
//!
//! The share a memo of a given size answers is the measure of what more room would buy:
//! under Zipf traffic over 100,000 products, the hottest pages that fit in 1 MiB answer
//! ~45 % of lookups and every doubling adds a few points; under uniform traffic over
//! 100,000 (product, shop) pairs, 1 MiB answers ~1 %, and the whole 32 MiB default would
//! answer ~35 % at ~60 MiB of memory (BENCHMARKS.md, "Memory at small working sets").

use super::memo::Tier;

/// The size a memo starts at (or its bound, when smaller), and the least it shrinks to.
pub const INITIAL: u64 = 1 << 20;

/// Lookups between two judgements.
pub const WINDOW: u64 = 1024;

/// A full memo whose pages answered at least this share of the window's lookups doubles.
pub const GROW_SHARE: f64 = 0.25;

/// A memo whose pages answered less than this share halves (not below [`INITIAL`]).
pub const SHRINK_SHARE: f64 = 1.0 / 16.0;

/// Counts as full from this share of the budget on (moka evicts before it is reached).
const FULL_SHARE: f64 = 0.875;

/// The budget `tier` should have after a window of `lookups` with `hits`, when it is not
/// its current one; never above `max`, never below `INITIAL` (or `max` when smaller).
pub(super) fn next_budget(tier: &Tier, hits: u64, lookups: u64, max: u64) -> Option<u64> {
    let share = hits as f64 / lookups as f64;
    let floor = INITIAL.min(max);
    if share >= GROW_SHARE && tier.budget < max {
        tier.pages.run_pending_tasks();
        let full = tier.pages.weighted_size() as f64 >= FULL_SHARE * tier.budget as f64;
        return full.then(|| tier.budget.saturating_mul(2).min(max));
    }
    if share < SHRINK_SHARE && tier.budget > floor {
        return Some((tier.budget / 2).max(floor));
    }
    None
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use bytes::Bytes;

    use super::super::memo::{Found, Memo};
    use super::*;

    /// A request for page `id` of `size` bytes: looked up, and on a miss rendered and
    /// offered. True when the memo answered.
    fn request(memo: &Memo, id: u64, size: usize) -> bool {
        let params: BTreeMap<String, String> = [("id".to_string(), id.to_string())].into();
        let key = memo.key(&params);
        match memo.get(key, &params, 1, &[1]) {
            Found::Page(_) => true,
            found => {
                let outdated = matches!(found, Found::Outdated);
                let html = Bytes::from(vec![b'x'; size]);
                memo.offer(key, &params, outdated, 1, &[1], &html);
                false
            }
        }
    }

    /// Reproducible pseudo-random ids in `0..n` (xorshift).
    fn next(state: &mut u64, n: u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state % n
    }

    /// `windows` windows of requests for random pages among `n` of 8 KiB.
    fn drive(memo: &Memo, rng: &mut u64, n: u64, windows: u64) -> u64 {
        let hits = (0..windows * WINDOW).filter(|_| request(memo, next(rng, n), 8192));
        hits.count() as u64
    }

    #[test]
    fn grows_while_its_pages_are_asked_for_again_until_the_working_set_fits() {
        let memo = Memo::new(32 << 20);
        assert_eq!(memo.budget(), INITIAL, "starts small");
        // 300 pages of 8 KiB (~2.5 MiB with bookkeeping): 1 MiB holds ~40 % of them.
        let mut rng = 7;
        drive(&memo, &mut rng, 300, 20);
        assert_eq!(memo.budget(), 4 << 20, "1 -> 2 -> 4 MiB, then not full");
        let hits = drive(&memo, &mut rng, 300, 1);
        assert!(
            hits > WINDOW * 9 / 10,
            "{hits} of {WINDOW}: the working set fits"
        );
    }

    #[test]
    fn never_grows_past_its_bound() {
        let mut rng = 7;
        let memo = Memo::new(2 << 20);
        drive(&memo, &mut rng, 300, 20);
        assert_eq!(memo.budget(), 2 << 20);
        let small = Memo::new(256 << 10);
        assert_eq!(
            small.budget(),
            256 << 10,
            "a bound below the start is the size"
        );
        drive(&small, &mut rng, 300, 5);
        assert_eq!(small.budget(), 256 << 10);
        assert_eq!(Memo::new(0).budget(), 0, "off");
    }

    #[test]
    fn stays_small_when_pages_are_seldom_asked_for_again() {
        // Uniform over 100,000 pages of 1 KiB (~150 MiB): 1 MiB answers ~1 %.
        let memo = Memo::new(32 << 20);
        let mut rng = 7;
        let hits = (0..20 * WINDOW).filter(|_| request(&memo, next(&mut rng, 100_000), 1024));
        assert!(hits.count() < (20 * WINDOW / 10) as usize);
        assert_eq!(memo.budget(), INITIAL);
    }

    #[test]
    fn shrinks_back_when_reuse_stops() {
        let memo = Memo::new(32 << 20);
        let mut rng = 7;
        drive(&memo, &mut rng, 300, 20);
        assert_eq!(memo.budget(), 4 << 20);
        // Pages never asked for again: 4 -> 2 -> 1 MiB, one halving per window.
        for id in 0..3 * WINDOW {
            request(&memo, 1_000_000 + id, 8192);
        }
        assert_eq!(memo.budget(), INITIAL);
        // What is kept still answers.
        let hits = drive(&memo, &mut rng, 300, 1);
        assert!(hits > 0);
    }
}
