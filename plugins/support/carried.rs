//! State the built-in plugins hand to the next configuration generation (reload in place),
//! built by a builder that may fail (a file to read, a config to check).
//!
//! [`carry_try`] is [`Shared::carry`] for such builders: the previous generation's value
//! when the same instance kept one under `key`, else `build()`'s. Each built-in keys its
//! state with `shared.carry.config()` (the fingerprint of its config), or a narrower key
//! where only part of the config shapes the state; the keys are listed in
//! docs/ARCHITECTURE.md.

use std::sync::{Arc, OnceLock};

use edgeproxy::kit::Shared;

/// Whether a carried value came from the previous generation or was just built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Handed over by the previous generation's instance.
    Kept,
    /// Built now (first generation, changed key, or `-t`).
    Built,
}

/// The value the previous generation's instance kept under `key` (and type `T`), else
/// `build()`'s; a failed build leaves nothing to hand over.
pub fn carry_try<T, E>(
    shared: &Shared,
    key: &str,
    build: impl FnOnce() -> Result<T, E>,
) -> Result<(Arc<T>, Origin), E>
where
    T: Send + Sync + 'static,
{
    let slot = shared.carry(key, OnceLock::<Arc<T>>::new);
    if let Some(v) = slot.get() {
        return Ok((v.clone(), Origin::Kept));
    }
    let built = Arc::new(build()?);
    // One builder per instance and generation: the slot is empty here.
    Ok((slot.get_or_init(|| built).clone(), Origin::Built))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_build_is_an_error_and_a_good_one_is_kept_in_the_slot() {
        let shared = crate::test_shared();
        let r: Result<(Arc<u8>, Origin), &str> = carry_try(&shared, "k", || Err("bad"));
        assert!(r.is_err());
        let (v, o) = carry_try::<u8, &str>(&shared, "k", || Ok(7)).unwrap();
        assert_eq!((*v, o), (7, Origin::Built));
        let (v, o) = carry_try::<u8, &str>(&shared, "k", || Ok(9)).unwrap();
        assert_eq!((*v, o), (7, Origin::Kept), "asked again in one generation");
    }
}
