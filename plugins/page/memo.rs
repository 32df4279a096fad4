//! Rendered pages, reused while the template and every source answer with the very same
//! stored values.
//!
//! A page is keyed by its validated parameters and remembered with the template generation
//! and the [`Version`] of every source value it was rendered from. The cache engine gives
//! every value it stores a new version (a reload after a TTL, a purge, an L2 read), and
//! repeats it for the same stored value (an L1 hit, a stale answer), so a remembered page is
//! served exactly while the lookups would hand back the same data: purge, TTL, stale and
//! negative entries keep their meaning.
//!
//! Admission: a page is only remembered the second time its parameters are seen within a
//! while (a doorkeeper of fingerprints, one per slot, overwritten by other keys), so
//! one-off parameter pairs cost a hash and a probe, not an insert that evicts useful pages.
//! A page already remembered with older versions is replaced at once.
//!
//! Size: the memo holds what its pages earn, up to `render_cache` (the configured bound).
//! It starts at [`INITIAL`] (1 MiB) and doubles while it is full and at least a quarter of
//! its lookups are answered from it; it halves (not below [`INITIAL`]) while fewer than a
//! sixteenth are. Judged every 1,024 lookups (`memo_size.rs`). So a working set
//! with reuse (Zipf traffic) gets the whole bound, while parameters that rarely repeat
//! (uniform over more pages than fit) keep it at [`INITIAL`] instead of filling the bound
//! with pages that are seldom asked for again (BENCHMARKS.md, "Memory at small working
//! sets").

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwapOption;
use bytes::Bytes;
use edgeproxy::kit::Version;
use moka::sync::Cache;
use once_cell::sync::Lazy;

use super::memo_size::{INITIAL, WINDOW};

/// Lookups answered with a remembered page.
static HITS: Lazy<prometheus::IntCounter> = Lazy::new(|| {
    edgeproxy::kit::metrics::counter(
        "edgeproxy_page_render_cache_hits_total",
        "Pages answered from the render cache (not rendered again)",
    )
});

/// Lookups that found no page, or an outdated one.
static MISSES: Lazy<prometheus::IntCounter> = Lazy::new(|| {
    edgeproxy::kit::metrics::counter(
        "edgeproxy_page_render_cache_misses_total",
        "Render cache lookups that found no page, or one from older data or template",
    )
});

/// The bytes every render cache may hold now, summed (each grows and shrinks with use).
static BUDGET: Lazy<prometheus::IntGauge> = Lazy::new(|| {
    edgeproxy::kit::metrics::gauge(
        "edgeproxy_page_render_cache_budget_bytes",
        "Bytes the page render caches may hold now (they grow with reuse up to render_cache)",
    )
});

/// One rendered page and what it was rendered from.
pub(super) struct Entry {
    params: Box<[(Box<str>, Box<str>)]>,
    generation: u64,
    versions: Box<[Version]>,
    html: Bytes,
}

/// What a lookup found.
pub enum Found {
    /// The page, still valid.
    Page(Bytes),
    /// A page of these parameters from older data or template (replace it).
    Outdated,
    /// Nothing remembered for these parameters.
    Nothing,
}

/// A cache of rendered pages keyed by the request parameters, sized by use (module docs).
pub struct Memo {
    /// The pages and their doorkeeper at the current size; `None` when off.
    tier: ArcSwapOption<Tier>,
    /// The configured bound (`render_cache`).
    max: u64,
    /// Lookups (low 32 bits) and hits (high 32 bits) of the current window.
    window: AtomicU64,
    /// Held while the size is judged and changed (one at a time).
    resizing: Mutex<()>,
    hasher: KeyHasher,
}

/// The pages at one size, with a doorkeeper sized to match.
pub(super) struct Tier {
    pub(super) pages: Cache<u64, Arc<Entry>, KeyHasher>,
    door: Box<[AtomicU32]>,
    pub(super) budget: u64,
}

/// foldhash (seeded per process): SipHash took ~4% of a page's instructions here.
type KeyHasher = foldhash::fast::RandomState;

/// Bytes of memo per doorkeeper slot (a 32 MiB memo remembers the last ~64k keys seen).
const BYTES_PER_SLOT: u64 = 512;

/// What an entry costs beside its page, key and versions: the entry, its boxes and moka's
/// bookkeeping (hash table slot, entry info, deque node).
const ENTRY_OVERHEAD: usize = 480;

impl Tier {
    /// Empty pages bounded to `budget` bytes.
    pub(super) fn new(budget: u64) -> Tier {
        let pages = Cache::builder()
            .max_capacity(budget)
            .weigher(|_: &u64, e: &Arc<Entry>| {
                let key: usize = e.params.iter().map(|(k, v)| k.len() + v.len()).sum();
                (e.html.len() + key + 8 * e.versions.len() + ENTRY_OVERHEAD)
                    .try_into()
                    .unwrap_or(u32::MAX)
            })
            .build_with_hasher(KeyHasher::default());
        let slots = (budget / BYTES_PER_SLOT).clamp(1024, 1 << 22);
        let slots = usize::try_from(slots.next_power_of_two()).unwrap_or(1 << 22);
        Tier {
            pages,
            door: (0..slots).map(|_| AtomicU32::new(0)).collect(),
            budget,
        }
    }

    /// Doorkeeper: true when `key`'s fingerprint is in its slot, else puts it there.
    fn seen_before(&self, key: u64) -> bool {
        let slot = &self.door[(key as usize) & (self.door.len() - 1)];
        let print = ((key >> 32) as u32) | 1;
        if slot.load(Ordering::Relaxed) == print {
            return true;
        }
        slot.store(print, Ordering::Relaxed);
        false
    }
}

impl Memo {
    /// A memo that may grow to `capacity_bytes` (rendered HTML, keys and bookkeeping);
    /// 0 disables it.
    pub fn new(capacity_bytes: u64) -> Memo {
        Lazy::force(&HITS);
        Lazy::force(&MISSES);
        let tier = (capacity_bytes > 0).then(|| Arc::new(Tier::new(capacity_bytes.min(INITIAL))));
        BUDGET.add(gauge_bytes(tier.as_ref().map_or(0, |t| t.budget)));
        Memo {
            tier: ArcSwapOption::new(tier),
            max: capacity_bytes,
            window: AtomicU64::new(0),
            resizing: Mutex::new(()),
            hasher: Default::default(),
        }
    }

    /// Whether the memo is on (capacity above 0).
    pub fn enabled(&self) -> bool {
        self.max > 0
    }

    /// The bytes the memo may hold now (it grows and shrinks with use, up to the bound).
    pub fn budget(&self) -> u64 {
        self.tier.load().as_ref().map_or(0, |t| t.budget)
    }

    /// The key of these parameters.
    pub fn key(&self, params: &BTreeMap<String, String>) -> u64 {
        let mut h = self.hasher.build_hasher();
        for (k, v) in params {
            k.hash(&mut h);
            v.hash(&mut h);
        }
        h.finish()
    }

    /// The page rendered for `params` by template `generation` from exactly the source
    /// values `versions`.
    pub fn get(
        &self,
        key: u64,
        params: &BTreeMap<String, String>,
        generation: u64,
        versions: &[Version],
    ) -> Found {
        let found = self.find(key, params, generation, versions);
        let hit = matches!(found, Found::Page(_));
        if hit {
            HITS.inc();
        } else {
            MISSES.inc();
        }
        self.count(hit);
        found
    }

    fn find(
        &self,
        key: u64,
        params: &BTreeMap<String, String>,
        generation: u64,
        versions: &[Version],
    ) -> Found {
        let tier = self.tier.load();
        let Some(e) = tier.as_ref().and_then(|t| t.pages.get(&key)) else {
            return Found::Nothing;
        };
        let same_params = e.params.len() == params.len()
            && e.params
                .iter()
                .zip(params)
                .all(|((k, v), (pk, pv))| **k == **pk && **v == **pv);
        if !same_params {
            return Found::Nothing; // another key with the same hash: treated as unseen
        }
        if e.generation == generation && *e.versions == *versions {
            Found::Page(e.html.clone())
        } else {
            Found::Outdated
        }
    }

    /// Offers a rendered page: remembered if these parameters were seen recently (or their
    /// page was `outdated`), else only their fingerprint is noted.
    pub fn offer(
        &self,
        key: u64,
        params: &BTreeMap<String, String>,
        outdated: bool,
        generation: u64,
        versions: &[Version],
        html: &Bytes,
    ) {
        let tier = self.tier.load();
        let Some(tier) = tier.as_ref() else {
            return;
        };
        if !outdated && !tier.seen_before(key) {
            return;
        }
        let entry = Entry {
            params: params
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
            generation,
            versions: versions.into(),
            // A copy of exactly the page's bytes: the rendered buffer has room to spare.
            html: Bytes::copy_from_slice(html),
        };
        tier.pages.insert(key, Arc::new(entry));
    }

    /// Counts a lookup; the one that ends a window judges the size.
    fn count(&self, hit: bool) {
        let add = if hit { (1 << 32) | 1 } else { 1 };
        let before = self.window.fetch_add(add, Ordering::Relaxed);
        if (before & 0xffff_ffff) + 1 == WINDOW {
            let counts = self.window.swap(0, Ordering::Relaxed);
            let lookups = (counts & 0xffff_ffff).max(1);
            self.judge(counts >> 32, lookups);
        }
    }

    /// Grows, shrinks or keeps the size after a window of `lookups` with `hits`.
    fn judge(&self, hits: u64, lookups: u64) {
        let Ok(_one) = self.resizing.try_lock() else {
            return;
        };
        let Some(tier) = self.tier.load_full() else {
            return;
        };
        let Some(budget) = super::memo_size::next_budget(&tier, hits, lookups, self.max) else {
            return;
        };
        let next = Tier::new(budget);
        for (k, v) in tier.pages.iter() {
            next.pages.insert(*k, v);
        }
        tracing::debug!(
            from = tier.budget,
            to = budget,
            hits,
            lookups,
            "render cache resized"
        );
        BUDGET.add(gauge_bytes(budget) - gauge_bytes(tier.budget));
        self.tier.store(Some(Arc::new(next)));
    }
}

impl Drop for Memo {
    fn drop(&mut self) {
        BUDGET.sub(gauge_bytes(self.budget()));
    }
}

/// A byte count as a gauge value.
fn gauge_bytes(b: u64) -> i64 {
    i64::try_from(b).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(p: &str, s: &str) -> BTreeMap<String, String> {
        [("productId", p), ("shopId", s)]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn page(m: &Memo, p: &BTreeMap<String, String>, g: u64, v: &[Version]) -> Option<Bytes> {
        match m.get(m.key(p), p, g, v) {
            Found::Page(b) => Some(b),
            _ => None,
        }
    }

    #[test]
    fn second_sighting_admits_and_versions_must_match() {
        let memo = Memo::new(1 << 20);
        let (a, html) = (params("1", "2"), Bytes::from("page"));
        let k = memo.key(&a);
        memo.offer(k, &a, false, 1, &[10, 20], &html);
        assert!(
            page(&memo, &a, 1, &[10, 20]).is_none(),
            "first sighting: not kept"
        );
        memo.offer(k, &a, false, 1, &[10, 20], &html);
        assert_eq!(page(&memo, &a, 1, &[10, 20]).as_deref(), Some(&b"page"[..]));
        assert!(page(&memo, &a, 2, &[10, 20]).is_none(), "template reloaded");
        assert!(
            page(&memo, &a, 1, &[11, 20]).is_none(),
            "a source value changed"
        );
        assert!(matches!(memo.get(k, &a, 1, &[11, 20]), Found::Outdated));
        assert!(page(&memo, &params("1", "3"), 1, &[10, 20]).is_none());
        // An outdated page is replaced at once.
        memo.offer(k, &a, true, 1, &[11, 20], &Bytes::from("new"));
        assert_eq!(page(&memo, &a, 1, &[11, 20]).as_deref(), Some(&b"new"[..]));
        assert!(page(&Memo::new(0), &a, 1, &[10, 20]).is_none());
    }

    #[test]
    fn a_hash_collision_is_not_a_hit() {
        let memo = Memo::new(1 << 20);
        let (a, b) = (params("1", "2"), params("9", "9"));
        let k = memo.key(&a);
        memo.offer(k, &a, true, 1, &[1], &Bytes::from("a"));
        assert!(matches!(memo.get(k, &b, 1, &[1]), Found::Nothing));
    }
}
