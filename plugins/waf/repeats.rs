//! Values split over a repeated parameter (`?id=1' OR&id=1=1`): ASP.NET reads
//! `id` as the values joined by commas (`1' OR,1=1`), other stacks as one of them; the
//! pieces pass one by one, the whole is checked here, joined by `,` and by a space.

use std::borrow::Cow;

use super::normalize::url_decode;

/// Up to this many fields, repeats are looked for pair by pair (no allocation).
const FEW: usize = 16;

/// Calls `check(name, joined)` for each name that `pairs` gives more than once (names
/// compared URL-decoded), its values joined by `,` then by a space, until one returns
/// true; returns whether one did. Costs one pass, no allocation, when a few names none of
/// them encoded all differ (the common request).
pub fn each_joined<'a>(
    pairs: impl Iterator<Item = (&'a str, &'a str)> + Clone,
    check: &mut dyn FnMut(&str, &str) -> bool,
) -> bool {
    if !may_repeat(pairs.clone()) {
        return false;
    }
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

/// False when no name repeats, decided without allocating for up to [`FEW`] names none of
/// them encoded (the common request); true when it may.
fn may_repeat<'a>(pairs: impl Iterator<Item = (&'a str, &'a str)>) -> bool {
    let mut names = [""; FEW];
    for (i, (name, _)) in pairs.enumerate() {
        if i == FEW || name.contains(['%', '+']) || names[..i].contains(&name) {
            return true;
        }
        names[i] = name;
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
        let mut n = 0;
        each_joined([("a", "1"), ("b", "2")].into_iter(), &mut |_, _| {
            n += 1;
            false
        });
        assert_eq!(n, 0);
    }
}
