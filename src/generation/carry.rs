//! What one configuration generation hands to the next: long-lived parts (upstream groups,
//! cache engines, hot-key machinery, plugin state) keyed by *identity* (kind + name, or a
//! plugin instance's id or position) and *spec* (a fingerprint of the config it was built
//! from). Assembly asks "this part, built from this spec": it gets the running one back
//! when the previous generation had it with the same spec, a new one otherwise. What the
//! new generation does not ask for is retired with the old generation (dropped when its
//! last request ends), and its background work stops with it.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The key of one carried part.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    /// `upstream/app`, `cache/main`, `plugin/server:edge/route:api/rate-limit#0`, …
    identity: String,
    /// The spec fingerprint or a plugin's own key.
    spec: String,
    /// The carried value's type (two kinds of state under one identity stay apart).
    ty: TypeId,
}

type Part = Arc<dyn Any + Send + Sync>;

/// The parts one generation holds, and (while the next one is assembled) the parts the
/// previous generation offers.
#[derive(Default)]
pub struct Carry {
    previous: Mutex<HashMap<Key, Part>>,
    current: Mutex<HashMap<Key, Part>>,
    kept: Mutex<Vec<String>>,
    built: Mutex<Vec<String>>,
}

impl std::fmt::Debug for Carry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Carry").field("parts", &self.len()).finish()
    }
}

impl Carry {
    /// A store for the first generation (nothing to carry over).
    pub fn first() -> Arc<Carry> {
        Arc::new(Carry::default())
    }

    /// A store for the generation after the one that holds `previous`: its parts are
    /// offered, not yet taken.
    pub fn after(previous: &Carry) -> Arc<Carry> {
        let parts = match previous.current.lock() {
            Ok(c) => c.clone(),
            Err(p) => p.into_inner().clone(),
        };
        Arc::new(Carry {
            previous: Mutex::new(parts),
            ..Carry::default()
        })
    }

    /// The part `identity` built from `spec`: the previous generation's when it had one of
    /// this type with the same spec (recorded as kept), else `build()`'s (recorded as
    /// built). Either way the part is held by this generation and offered to the next.
    pub fn part<T, E>(
        &self,
        identity: &str,
        spec: &str,
        build: impl FnOnce() -> Result<Arc<T>, E>,
    ) -> Result<Arc<T>, E>
    where
        T: Send + Sync + 'static,
    {
        let key = Key {
            identity: identity.to_string(),
            spec: spec.to_string(),
            ty: TypeId::of::<T>(),
        };
        let asked = match self.current.lock() {
            Ok(c) => c.get(&key).cloned(),
            Err(p) => p.into_inner().get(&key).cloned(),
        };
        if let Some(Ok(t)) = asked.map(|p| p.downcast::<T>()) {
            return Ok(t); // asked twice in one generation: the same part
        }
        let offered = match self.previous.lock() {
            Ok(p) => p.get(&key).cloned(),
            Err(p) => p.into_inner().get(&key).cloned(),
        };
        // No lock is held while building: a builder may ask for other parts.
        let (part, kept) = match offered.map(|p| p.downcast::<T>()) {
            Some(Ok(t)) => (t, true),
            _ => (build()?, false),
        };
        match self.current.lock() {
            Ok(mut c) => c.insert(key, part.clone()),
            Err(p) => p.into_inner().insert(key, part.clone()),
        };
        let list = if kept { &self.kept } else { &self.built };
        if let Ok(mut l) = list.lock() {
            l.push(identity.to_string());
        }
        Ok(part)
    }

    /// Like [`part`](Self::part) for a part that cannot fail to build.
    pub fn get_or<T: Send + Sync + 'static>(
        &self,
        identity: &str,
        spec: &str,
        build: impl FnOnce() -> Arc<T>,
    ) -> Arc<T> {
        match self.part::<T, std::convert::Infallible>(identity, spec, || Ok(build())) {
            Ok(t) => t,
            Err(never) => match never {},
        }
    }

    /// Identities of the parts carried over from the previous generation, and of those
    /// built new, sorted.
    pub fn report(&self) -> (Vec<String>, Vec<String>) {
        let sorted = |m: &Mutex<Vec<String>>| {
            let mut v = match m.lock() {
                Ok(v) => v.clone(),
                Err(p) => p.into_inner().clone(),
            };
            v.sort();
            v.dedup();
            v
        };
        (sorted(&self.kept), sorted(&self.built))
    }

    /// Parts this generation holds.
    pub fn len(&self) -> usize {
        match self.current.lock() {
            Ok(c) => c.len(),
            Err(p) => p.into_inner().len(),
        }
    }

    /// Whether this generation holds no part.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets what the previous generation offered (once assembly is done, so retired
    /// parts are not kept alive by the new generation).
    pub fn settle(&self) {
        match self.previous.lock() {
            Ok(mut p) => p.clear(),
            Err(p) => p.into_inner().clear(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_part_with_the_same_spec_is_carried_and_a_changed_one_rebuilt() {
        let first = Carry::first();
        let a = first.get_or("cache/main", "spec-1", || Arc::new(1u32));
        let b = first.get_or("cache/other", "x", || Arc::new(2u32));
        let second = Carry::after(&first);
        let a2 = second.get_or("cache/main", "spec-1", || Arc::new(10u32));
        let b2 = second.get_or("cache/other", "y", || Arc::new(20u32));
        second.settle();
        assert!(Arc::ptr_eq(&a, &a2), "same spec: the running part");
        assert!(!Arc::ptr_eq(&b, &b2), "changed spec: a new part");
        assert_eq!(*b2, 20);
        let (kept, built) = second.report();
        assert_eq!(kept, vec!["cache/main"]);
        assert_eq!(built, vec!["cache/other"]);
        // Only what the second generation asked for is offered to the third.
        let third = Carry::after(&second);
        let b3 = third.get_or("cache/other", "x", || Arc::new(30u32));
        assert_eq!(*b3, 30, "the retired spec is gone");
    }

    #[test]
    fn two_types_under_one_identity_stay_apart() {
        let first = Carry::first();
        let n = first.get_or("plugin/x", "", || Arc::new(5u64));
        let s = first.get_or("plugin/x", "", || Arc::new(String::from("s")));
        assert_eq!((*n, s.as_str()), (5, "s"));
        let second = Carry::after(&first);
        assert!(Arc::ptr_eq(
            &n,
            &second.get_or("plugin/x", "", || Arc::new(0u64))
        ));
    }

    #[test]
    fn a_failed_build_leaves_nothing_behind() {
        let first = Carry::first();
        let r: Result<Arc<u8>, &str> = first.part("upstream/a", "s", || Err("bad"));
        assert!(r.is_err());
        assert!(first.is_empty());
    }
}
