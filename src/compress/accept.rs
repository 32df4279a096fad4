//! `Accept-Encoding` (RFC 9110 §12.5.3) with q-values: which of our codings the client
//! takes, how much it likes each, and whether it refuses an uncompressed answer.
//!
//! - A coding listed with `q=0` is refused; `*` stands for every coding not listed
//!   (`*;q=0` refuses them all); a coding neither listed nor covered by `*` is refused.
//! - The best coding is the one with the highest q-value; ties go to the server's order
//!   (`algorithms`). An explicit `identity;q=X` competes: a coding is only chosen when its
//!   q-value is at least X (`gzip;q=0.5, identity` → uncompressed).
//! - `identity;q=0` (or `*;q=0` without `identity`) says the client refuses an
//!   uncompressed answer; see [`Accepted::identity_refused`].
//! - `x-gzip` is `gzip` (RFC 9110 §8.4.1.3). An entry with an invalid q-value is ignored.
//!   The first entry for a coding counts.

use super::Coding;

/// A q-value in thousandths (0..=1000).
type Q = u16;

/// What one request's `Accept-Encoding` fields say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Accepted {
    /// Explicit q-values of gzip, br, zstd (by [`Coding::index`]).
    codings: [Option<Q>; 3],
    /// The q-value of `*`, when listed.
    star: Option<Q>,
    /// The q-value of `identity`, when listed.
    identity: Option<Q>,
}

impl Accepted {
    /// Reads every `Accept-Encoding` field value of a request (none: nothing accepted, so
    /// nothing is compressed, as nginx does).
    pub fn parse<'a>(values: impl IntoIterator<Item = &'a [u8]>) -> Accepted {
        let mut a = Accepted::default();
        for value in values {
            for entry in value.split(|&b| b == b',') {
                a.entry(entry);
            }
        }
        a
    }

    fn entry(&mut self, entry: &[u8]) {
        let Ok(entry) = std::str::from_utf8(entry) else {
            return;
        };
        let mut parts = entry.split(';');
        let name = parts.next().unwrap_or_default().trim();
        if name.is_empty() {
            return;
        }
        let mut q = 1000;
        for param in parts {
            let Some((k, v)) = param.split_once('=') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("q") {
                match qvalue(v.trim()) {
                    Some(v) => q = v,
                    None => return,
                }
            }
        }
        let slot = if name == "*" {
            &mut self.star
        } else if name.eq_ignore_ascii_case("identity") {
            &mut self.identity
        } else {
            match Coding::from_token(name) {
                Some(c) => &mut self.codings[c.index()],
                None => return,
            }
        };
        slot.get_or_insert(q);
    }

    fn q(&self, c: Coding) -> Q {
        self.codings[c.index()].or(self.star).unwrap_or(0)
    }

    /// The client's preferred coding among `ours` (in the server's order of preference),
    /// if it takes one and does not prefer an uncompressed answer.
    pub fn choose(&self, ours: &[Coding]) -> Option<Coding> {
        let mut best: Option<(Coding, Q)> = None;
        for &c in ours {
            let q = self.q(c);
            if q > 0 && best.is_none_or(|(_, bq)| q > bq) {
                best = Some((c, q));
            }
        }
        let (c, q) = best?;
        (q >= self.identity.unwrap_or(0)).then_some(c)
    }

    /// The client refuses an uncompressed answer (`identity;q=0`, or `*;q=0` without an
    /// `identity` entry).
    pub fn identity_refused(&self) -> bool {
        match self.identity {
            Some(q) => q == 0,
            None => self.star == Some(0),
        }
    }
}

/// `0`, `0.5`, `0.125`, `1`, `1.000` → thousandths; anything else (RFC 9110 `qvalue`) → None.
fn qvalue(v: &str) -> Option<Q> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths: Q = format!("{frac:0<3}").parse().ok()?;
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Coding::*;

    const ALL: [Coding; 3] = [Brotli, Zstd, Gzip];

    fn pick(ae: &str) -> Option<Coding> {
        Accepted::parse([ae.as_bytes()]).choose(&ALL)
    }

    #[test]
    fn qvalues() {
        for (v, q) in [
            ("0", 0),
            ("0.5", 500),
            ("0.125", 125),
            ("1", 1000),
            ("1.000", 1000),
            ("0.", 0),
        ] {
            assert_eq!(qvalue(v), Some(q), "{v}");
        }
        for v in ["", "2", "1.5", "0.1234", "-0", "0.5x", ".5", "abc"] {
            assert_eq!(qvalue(v), None, "{v}");
        }
    }

    #[test]
    fn server_order_breaks_ties_and_q_values_win() {
        assert_eq!(pick("gzip, deflate, br, zstd"), Some(Brotli));
        assert_eq!(pick("gzip"), Some(Gzip));
        assert_eq!(pick("x-gzip"), Some(Gzip));
        assert_eq!(pick("br;q=0.5, gzip;q=0.8"), Some(Gzip));
        assert_eq!(pick("GZIP;Q=0.3, zstd ; q=0.9"), Some(Zstd));
        assert_eq!(
            Accepted::parse([&b"gzip, br"[..]]).choose(&[Gzip]),
            Some(Gzip)
        );
        // Several field lines are one list.
        assert_eq!(
            Accepted::parse([&b"deflate"[..], b"gzip;q=0.2"]).choose(&ALL),
            Some(Gzip)
        );
    }

    #[test]
    fn zero_refuses_and_unknown_or_missing_is_nothing() {
        assert_eq!(pick("br;q=0, gzip"), Some(Gzip));
        assert_eq!(pick("gzip;q=0"), None);
        assert_eq!(pick("deflate, compress"), None);
        assert_eq!(pick(""), None);
        assert_eq!(
            Accepted::parse(std::iter::empty::<&[u8]>()).choose(&ALL),
            None
        );
        // An invalid q-value drops the entry; the first entry for a coding counts.
        assert_eq!(pick("gzip;q=2"), None);
        assert_eq!(pick("gzip;q=0, gzip"), None);
    }

    #[test]
    fn star_and_identity() {
        assert_eq!(pick("*"), Some(Brotli));
        assert_eq!(pick("br;q=0, *;q=0.1"), Some(Zstd));
        assert_eq!(pick("*;q=0"), None);
        assert_eq!(pick("*;q=0, gzip"), Some(Gzip));
        // An explicit identity preference competes; an implicit one does not.
        assert_eq!(pick("gzip;q=0.5, identity"), None);
        assert_eq!(pick("gzip;q=0.5, identity;q=0.5"), Some(Gzip));
        assert_eq!(pick("gzip;q=0.5"), Some(Gzip));
        let refused = |ae: &str| Accepted::parse([ae.as_bytes()]).identity_refused();
        assert!(refused("gzip, identity;q=0"));
        assert!(refused("*;q=0"));
        assert!(!refused("*;q=0, identity"));
        assert!(!refused("gzip"));
    }
}
