//! A tokenizer-based detector beside the regexes: libinjection (its pure-Rust port,
//! `libinjectionrs`, BSD-3-Clause, no build step), which reads a value as SQL or HTML
//! tokens and matches their shape (`s&1c`: string, operator, number, comment) against
//! the fingerprints of known injections, where the regexes need one pattern per spelling.
//! It catches what the rules were not written for (stacked queries, `SLEEP(5)`, error-based
//! `extractvalue`, `<object>`, `<base href>`; figures in docs/gateway.md).
//!
//! Its known weakness is plain prose: "rock and roll between 1960 and 1970" has the shape
//! `n&1` (word, logic operator, number), "50% off -- today only" `1c` (number, comment),
//! "select (a) shop" `E(n)n`. So its SQL verdict is taken only
//! - for a value holding SQL punctuation (a quote, a backtick, `;`, `(`, `)`, `#`, `@` or
//!   `--`): words and numbers alone are left to the regexes; and
//! - when the fingerprint has a token prose does not make: a string broken out of (`s`), a
//!   statement chained (`;`), a function call (`f`), `GROUP`/`ORDER BY` (`B`), a T-SQL
//!   word (`T`), `UNION` (`U`), a `@@variable` (`v`), or a sub-select after a logic
//!   operator (`E` with `&`).
//!
//! Its HTML verdict is taken for a value holding `<`. The gates also keep its cost off the
//! common value (`red running shoes` is never tokenized).
//! It reads the path, the query arguments and the body, not headers (a `User-Agent` is
//! full of `(` and `;` on every request).

/// One of the detector's two readings; each is a default rule (`sqli-libinjection`,
/// `xss-libinjection`) that `disable_rules` can leave out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Detector {
    /// SQL injection.
    Sqli,
    /// Cross-site scripting.
    Xss,
}

impl Detector {
    /// Both, with their rule ids.
    pub const ALL: [(&'static str, Detector); 2] = [
        ("sqli-libinjection", Detector::Sqli),
        ("xss-libinjection", Detector::Xss),
    ];

    /// Whether the detector calls the (normalized) value an injection; `gate` is
    /// [`Gate::of`] the value.
    pub fn fires(self, text: &str, gate: Gate) -> bool {
        match self {
            Detector::Sqli => {
                if !gate.sql {
                    return false;
                }
                let r = libinjectionrs::detect_sqli(text.as_bytes());
                r.is_injection() && r.fingerprint.is_some_and(|f| not_prose(f.as_bytes()))
            }
            Detector::Xss => {
                gate.html && libinjectionrs::detect_xss(text.as_bytes()).is_injection()
            }
        }
    }
}

/// How much of a value the detector reads: libinjection's verdict is the shape of the
/// first few tokens (five after folding), so the start of a long value is enough, and a
/// 2 KiB comment costs what a short one does.
pub const HEAD: usize = 512;

/// The first [`HEAD`] bytes of `text` (cut at a character boundary).
pub fn head(text: &str) -> &str {
    let mut end = text.len().min(HEAD);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Which readings a value can get, from one pass over its bytes: the detector's (see the
/// module docs) and the second, path reading (`normalize::path_form`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Gate {
    /// It holds SQL punctuation: a quote, a backtick, `;`, `(`, `)`, `#`, `@` or `--`.
    pub sql: bool,
    /// It holds `<`.
    pub html: bool,
    /// It holds a path trick: `\`, `//` (not in `://`), `/./`, a final `/.`, `..;`.
    pub path: bool,
}

impl Gate {
    /// The gate of `text`.
    pub fn of(text: &str) -> Gate {
        let b = text.as_bytes();
        let mut g = Gate::default();
        for (i, &c) in b.iter().enumerate() {
            match c {
                b'\'' | b'"' | b'`' | b'(' | b')' | b'#' | b'@' => g.sql = true,
                b'-' if i > 0 && b[i - 1] == b'-' => g.sql = true,
                b'<' => g.html = true,
                b'\\' => g.path = true,
                b';' => {
                    g.sql = true;
                    g.path |= i > 1 && b[i - 1] == b'.' && b[i - 2] == b'.';
                }
                b'/' => {
                    g.path |= match b.get(i + 1) {
                        Some(b'/') => i == 0 || b[i - 1] != b':',
                        Some(b'.') => b.get(i + 2).is_none_or(|&n| n == b'/'),
                        _ => false,
                    }
                }
                _ => {}
            }
        }
        g
    }

    /// Whether one of the detector's readings applies.
    pub fn detector(self) -> bool {
        self.sql || self.html
    }
}

/// A fingerprint with a token that prose does not make (see the module docs).
fn not_prose(fingerprint: &[u8]) -> bool {
    let has = |c: u8| fingerprint.contains(&c);
    b"s;fBTUv".iter().any(|&c| has(c)) || (has(b'E') && has(b'&'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_on_shapes_and_not_on_prose() {
        for sqli in ["1; DROP TABLE users--", "1' AND SLEEP(5)--", "admin'--"] {
            assert!(Detector::Sqli.fires(sqli, Gate::of(sqli)), "{sqli}");
        }
        for prose in [
            "rock and roll between 1960 and 1970",
            "O'Brien",
            "1 or 2 items",
            "50% off -- today only",
            "select (a) shop",
        ] {
            assert!(!Detector::Sqli.fires(prose, Gate::of(prose)), "{prose}");
        }
        let xss = |s: &str| Detector::Xss.fires(s, Gate::of(s));
        assert!(xss("<object data=x>"));
        assert!(!xss("<b>bold</b>"));
        assert!(!Gate::of("red running shoes").detector());
        for path in ["/etc/./passwd", "//etc", "a\\b", "..;/x", "/a/."] {
            assert!(Gate::of(path).path, "{path}");
        }
        for plain in ["https://shop.example/a", "/a/../b", "a.b;c"] {
            assert!(!Gate::of(plain).path, "{plain}");
        }
    }
}
