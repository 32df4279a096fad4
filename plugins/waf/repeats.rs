//! Values split over a repeated parameter (`?id=1' OR&id=1=1`): ASP.NET reads
//! `id` as the values joined by commas (`1' OR,1=1`), other stacks as one of them; the
//! pieces pass one by one, the whole is checked here, joined by `,` and by a space.

use std::borrow::Cow;

use super::normalize::url_decode;

/// Up to this many fields, repeats are looked for pair by pair (no allocation).
const FEW: usize = 16;

/// The names of a request's parameters as they are checked one by one, to tell without
/// allocating or a second pass (the common request: a few names, none encoded, all
/// different) that none repeats.
#[derive(Default)]
pub struct Names<'a> {
    seen: [&'a str; FEW],
    len: usize,
    maybe: bool,
}

impl<'a> Names<'a> {
    /// One more name.
    pub fn add(&mut self, name: &'a str) {
        if self.maybe {
            return;
        }
        let encoded = name.bytes().any(|b| b == b'%' || b == b'+');
        if self.len == FEW || encoded || self.seen[..self.len].contains(&name) {
            self.maybe = true;
            return;
        }
        self.seen[self.len] = name;
        self.len += 1;
    }

    /// Whether a name may repeat ([`each_joined`] has work).
    pub fn may_repeat(&self) -> bool {
        self.maybe
    }
}

/// Calls `check(name, joined)` for each name that `pairs` gives more than once (names
/// compared URL-decoded), its values joined by `,` then by a space, until one returns
/// true; returns whether one did. Callers skip it when [`Names::may_repeat`] says no.
pub fn each_joined<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)>,
    check: &mut dyn FnMut(&str, &str) -> bool,
) -> bool {
    let pairs: Vec<(Cow<'a, str>, &'a str)> = pairs.map(|(n, v)| (url_decode(n, 1), v)).collect();
    if pairs.len() < 2 {
        return false;
    }
    let mut names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_ref()).collect();
    names.sort_unstable();
    let mut repeated: Vec<&str> = names
        .windows(2)
        .filter(|w| w[0] == w[1])
        .map(|w| w[0])
        .collect();
    repeated.dedup();
    for name in repeated {
        let values: Vec<&str> = pairs
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| *v)
            .collect();
        if check(name, &values.join(",")) || check(name, &values.join(" ")) {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_repeated_names_are_joined() {
        let mut seen = Vec::new();
        let pairs = [("id", "1' OR"), ("x", "y"), ("%69d", "1=1"), ("x", "z")];
        each_joined(pairs.into_iter(), &mut |n, v| {
            seen.push(format!("{n}={v}"));
            false
        });
        assert_eq!(seen, ["id=1' OR,1=1", "id=1' OR 1=1", "x=y,z", "x=y z"]);
        let mut names = Names::default();
        for n in ["a", "b", "c"] {
            names.add(n);
        }
        assert!(!names.may_repeat());
        names.add("a");
        assert!(names.may_repeat());
        let mut encoded = Names::default();
        encoded.add("%61");
        assert!(encoded.may_repeat(), "an encoded name may be another's");
    }
}
