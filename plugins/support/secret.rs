//! Secret comparison for the access plugins (`key-auth`, `admin-token`): one helper, so no
//! plugin compares a secret with `==`.
//!
//! [`Secrets::find`] compares the given value with *every* secret, always all of it, with
//! `subtle`'s constant-time primitives: its time depends on the secrets' lengths only,
//! never on where the given value differs from one of them, on whether it matched, or on
//! which secret it matched (a timing side channel must reveal neither a secret byte by
//! byte, nor its length, nor which of several keys is the valid one).

use subtle::{Choice, ConditionallySelectable, ConstantTimeEq};

/// A set of secrets (API keys, tokens). Deliberately not `Debug`: it holds the secrets.
pub struct Secrets {
    secrets: Vec<Vec<u8>>,
}

impl Secrets {
    /// A set of `secrets`; an empty one matches nothing.
    pub fn new<I, S>(secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<[u8]>,
    {
        Secrets {
            secrets: secrets.into_iter().map(|s| s.as_ref().to_vec()).collect(),
        }
    }

    /// The index of the secret equal to `given`, compared in constant time against all of
    /// them (see the module docs).
    pub fn find(&self, given: &[u8]) -> Option<usize> {
        let mut any = Choice::from(0);
        let mut index = 0u64;
        for (i, secret) in self.secrets.iter().enumerate() {
            let eq = ct_eq(secret, given);
            index.conditional_assign(&(i as u64), eq);
            any |= eq;
        }
        bool::from(any).then_some(index as usize)
    }

    /// Whether `given` is one of the secrets (constant time, as [`find`](Self::find)).
    pub fn contains(&self, given: &[u8]) -> bool {
        self.find(given).is_some()
    }
}

/// Equality in time that depends only on `secret`'s length: every byte of `secret` is
/// compared, whatever `given`'s length (a short `given` compares against zeros), so
/// neither a differing byte nor a length mismatch ends the loop early.
fn ct_eq(secret: &[u8], given: &[u8]) -> Choice {
    let mut eq = (secret.len() as u64).ct_eq(&(given.len() as u64));
    for (i, s) in secret.iter().enumerate() {
        eq &= s.ct_eq(given.get(i).unwrap_or(&0));
    }
    eq
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_matching_secret_and_nothing_else() {
        let s = Secrets::new(["k1", "key-two", "k3"]);
        assert_eq!(s.find(b"k1"), Some(0));
        assert_eq!(s.find(b"key-two"), Some(1));
        assert_eq!(s.find(b"k3"), Some(2));
        for wrong in [
            &b""[..],
            b"k",
            b"k2",
            b"k1 ",
            b"key-tw",
            b"key-two\0",
            b"K1",
        ] {
            assert_eq!(s.find(wrong), None, "{wrong:?}");
        }
        assert!(!Secrets::new(Vec::<String>::new()).contains(b""));
        assert!(!Secrets::new([""]).contains(b"\0"));
        assert!(Secrets::new(["a"]).contains(b"a"));
    }
}
