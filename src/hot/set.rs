//! The hot set as the request path reads it: an immutable snapshot behind an `ArcSwap`,
//! replaced by the background task only when the set changes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Per-key flags; carried over from snapshot to snapshot while the key stays hot.
#[derive(Debug)]
pub struct Flags {
    /// Served from the first hop.
    pub edge: bool,
    /// Still to be prewarmed on this node (taken by the first request that sees it).
    prewarm: AtomicBool,
}

/// What the request path learns about a hot key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hit {
    /// Among the keys served from the first hop.
    pub edge: bool,
    /// This request is the first to see the key since it turned hot: it starts the prewarm.
    pub prewarm: bool,
}

/// One snapshot of the hot set.
#[derive(Debug, Default)]
pub struct HotSet {
    keys: HashMap<String, Arc<Flags>, ahash::RandomState>,
}

impl HotSet {
    /// A snapshot of `keys` (with their edge flag); keys already in `previous` keep their
    /// flags, new ones are due for a prewarm when `prewarm` is on.
    pub fn new(
        keys: impl Iterator<Item = (String, bool)>,
        previous: &HotSet,
        prewarm: bool,
    ) -> Self {
        let keys = keys
            .map(|(k, edge)| {
                let flags = match previous.keys.get(&k) {
                    Some(f) if f.edge == edge => f.clone(),
                    Some(f) => Arc::new(Flags {
                        edge,
                        prewarm: AtomicBool::new(f.prewarm.load(Ordering::Relaxed)),
                    }),
                    None => Arc::new(Flags {
                        edge,
                        prewarm: AtomicBool::new(prewarm),
                    }),
                };
                (k, flags)
            })
            .collect();
        HotSet { keys }
    }

    /// Whether `key` is hot, and what to do about it (the request path).
    #[inline]
    pub fn lookup(&self, key: &str) -> Option<Hit> {
        if self.keys.is_empty() {
            return None;
        }
        let f = self.keys.get(key)?;
        let prewarm = f.prewarm.load(Ordering::Relaxed) && f.prewarm.swap(false, Ordering::Relaxed);
        Some(Hit {
            edge: f.edge,
            prewarm,
        })
    }

    /// Whether the snapshot holds exactly `keys` with these edge flags.
    pub fn same(&self, keys: &[(String, bool)]) -> bool {
        keys.len() == self.keys.len()
            && keys
                .iter()
                .all(|(k, e)| self.keys.get(k).is_some_and(|f| f.edge == *e))
    }

    /// Number of hot keys.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is hot.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_request_takes_the_prewarm_and_flags_survive_a_new_snapshot() {
        let empty = HotSet::default();
        let s1 = HotSet::new([("a".to_string(), false)].into_iter(), &empty, true);
        assert_eq!(s1.lookup("b"), None);
        assert_eq!(
            s1.lookup("a"),
            Some(Hit {
                edge: false,
                prewarm: true
            })
        );
        assert_eq!(
            s1.lookup("a"),
            Some(Hit {
                edge: false,
                prewarm: false
            })
        );
        let keys = [("a".to_string(), true), ("c".to_string(), false)];
        assert!(!s1.same(&keys));
        let s2 = HotSet::new(keys.iter().cloned(), &s1, true);
        assert!(s2.same(&keys));
        assert_eq!(
            s2.lookup("a"),
            Some(Hit {
                edge: true,
                prewarm: false
            }),
            "already taken"
        );
        assert_eq!(
            s2.lookup("c"),
            Some(Hit {
                edge: false,
                prewarm: true
            })
        );
        let off = HotSet::new([("d".to_string(), false)].into_iter(), &empty, false);
        assert_eq!(
            off.lookup("d"),
            Some(Hit {
                edge: false,
                prewarm: false
            })
        );
    }
}
