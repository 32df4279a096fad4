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

use std::collections::BTreeMap;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use edgeproxy::kit::Version;
use moka::sync::Cache;
use once_cell::sync::Lazy;

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

/// One rendered page and what it was rendered from.
struct Entry {
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

/// A bounded cache of rendered pages keyed by the request parameters.
pub struct Memo {
    pages: Option<Cache<u64, Arc<Entry>, KeyHasher>>,
    door: Box<[AtomicU32]>,
    hasher: KeyHasher,
}

/// foldhash (seeded per process): SipHash took ~4% of a page's instructions here.
type KeyHasher = foldhash::fast::RandomState;

/// Bytes of memo per doorkeeper slot (a 32 MiB memo remembers the last ~64k keys seen).
const BYTES_PER_SLOT: u64 = 512;

impl Memo {
    /// A memo bounded to `capacity_bytes` (rendered HTML and keys); 0 disables it.
    pub fn new(capacity_bytes: u64) -> Memo {
        let pages = (capacity_bytes > 0).then(|| {
            Cache::builder()
                .max_capacity(capacity_bytes)
                .weigher(|_: &u64, e: &Arc<Entry>| {
                    let key: usize = e.params.iter().map(|(k, v)| k.len() + v.len()).sum();
                    (e.html.len() + key + 8 * e.versions.len() + 96)
                        .try_into()
                        .unwrap_or(u32::MAX)
                })
                .build_with_hasher(KeyHasher::default())
        });
        Lazy::force(&HITS);
        Lazy::force(&MISSES);
        let slots = (capacity_bytes / BYTES_PER_SLOT).clamp(1024, 1 << 22);
        let slots = usize::try_from(slots.next_power_of_two()).unwrap_or(1 << 22);
        Memo {
            door: (0..if pages.is_some() { slots } else { 0 })
                .map(|_| AtomicU32::new(0))
                .collect(),
            pages,
            hasher: Default::default(),
        }
    }

    /// Whether the memo is on (capacity above 0).
    pub fn enabled(&self) -> bool {
        self.pages.is_some()
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
        match found {
            Found::Page(_) => HITS.inc(),
            _ => MISSES.inc(),
        }
        found
    }

    fn find(
        &self,
        key: u64,
        params: &BTreeMap<String, String>,
        generation: u64,
        versions: &[Version],
    ) -> Found {
        let Some(e) = self.pages.as_ref().and_then(|p| p.get(&key)) else {
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
        let Some(pages) = &self.pages else {
            return;
        };
        if !outdated && !self.seen_before(key) {
            return;
        }
        let entry = Entry {
            params: params
                .iter()
                .map(|(k, v)| (k.as_str().into(), v.as_str().into()))
                .collect(),
            generation,
            versions: versions.into(),
            html: html.clone(),
        };
        pages.insert(key, Arc::new(entry));
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
