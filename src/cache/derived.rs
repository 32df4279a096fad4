//! What a stored value's users derive from its bytes (e.g. parsed JSON), kept with the value.
//!
//! Every value L1 stores gets a [`Version`]: a number no other stored value of this process
//! shares (a reload, a purge-then-load or an L2 read all store a new one; a stale answer
//! repeats the version it was stored with). A user that caches something computed from a
//! value (a rendered page) keys it by the versions it was computed from, so the result is
//! reused exactly while the same stored values answer. And each stored value carries one
//! [`Derived`] slot: the first user that parses the bytes keeps the parsed form there, so
//! later hits of the same stored value don't parse again. Redis keeps only the bytes.

use std::any::Any;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use once_cell::sync::OnceCell;

/// The identity of one stored value (unique within the process, never 0).
pub type Version = u64;

static NEXT: AtomicU64 = AtomicU64::new(1);

/// A new version number.
pub fn next_version() -> Version {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

type Slot = OnceCell<Arc<dyn Any + Send + Sync>>;

/// A slot for one form derived from a stored value, shared by every hit of that value.
#[derive(Clone, Default)]
pub struct Derived(Arc<Slot>);

impl std::fmt::Debug for Derived {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Derived(set)"
        } else {
            "Derived(empty)"
        })
    }
}

impl Derived {
    /// The form kept in the slot if it is a `T`; else `make()`, kept for the next hit when
    /// the slot is still empty (a slot holds one form: the first one kept stays).
    pub fn get_or_try_init<T, E>(&self, make: impl FnOnce() -> Result<T, E>) -> Result<Arc<T>, E>
    where
        T: Any + Send + Sync,
    {
        if let Some(kept) = self.0.get() {
            if let Ok(t) = kept.clone().downcast::<T>() {
                return Ok(t);
            }
            return make().map(Arc::new);
        }
        let made = Arc::new(make()?);
        let _ = self.0.set(made.clone());
        Ok(made)
    }

    /// Whether a form is kept (tests and diagnostics).
    pub fn is_set(&self) -> bool {
        self.0.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn computes_once_per_slot_and_type() {
        let d = Derived::default();
        let mut calls = 0;
        let mut make = |v: u32| {
            calls += 1;
            Ok::<_, ()>(v)
        };
        assert_eq!(*d.get_or_try_init(|| make(7)).unwrap(), 7);
        assert_eq!(
            *d.clone().get_or_try_init(|| make(8)).unwrap(),
            7,
            "shared by clones"
        );
        assert_eq!(calls, 1);
        // Another type is computed, not kept; a failure keeps nothing.
        assert_eq!(*d.get_or_try_init(|| Ok::<_, ()>("x")).unwrap(), "x");
        let e = Derived::default();
        assert!(e.get_or_try_init(|| Err::<u32, _>("bad")).is_err());
        assert!(!e.is_set());
        assert_ne!(next_version(), next_version());
    }
}
