//! What a rule is matched against: a request value undone of the usual evasions, once.
//!
//! In order:
//!
//! 1. URL decoding, repeated until nothing changes or `rounds` passes (double and triple
//!    encoding: `%2527` → `%27` → `'`); `+` is a space in every pass (form encoding, as
//!    query arguments are read), so `union+select`, `union%20select` and
//!    `union%2Bselect` all read `union select`. Bytes that are not UTF-8 are read as a
//!    lenient decoder would: an overlong form as the character it encodes (`%c0%ae` is
//!    `.`, `%c0%a0` a space, `%e0%80%bc` `<`), any other byte as Latin-1 (`%a0` is a
//!    no-break space, which MySQL and others take as whitespace). IIS's `%u0027` is `'`.
//! 2. HTML character references: numeric (`&#106;`, `&#x6A;`, with or without `;`) and
//!    `&colon; &tab; &newline; &lt; &gt; &quot; &apos; &amp;` — a value reflected into an
//!    HTML attribute is decoded by the browser (`javascript&colon;alert(1)`).
//! 3. SQL comments: `/* ... */` is removed (as SQL reads it: a space), MySQL's executable
//!    `/*!50000 ... */` keeps its content, and `#` or `-- ` up to a newline are removed.
//! 4. Control characters are dropped (`<scr\0ipt>`), and every run of whitespace (space,
//!    tab, CR, LF, VT, FF, NBSP…) becomes one space: `union\t\nselect` is `union select`.
//!
//! Case is left alone: the rules are case-insensitive.
//!
//! `path.rs` gives a second reading of a value that holds path tricks (`\`, `//`, `/./`,
//! `..;`), checked beside the first.

use std::borrow::Cow;

/// Upper bound of URL-decoding passes a config may ask for.
pub const MAX_ROUNDS: u8 = 8;

/// `raw` normalized as the module docs say.
/// Each step copies only when it changes something: a plain value (`red running shoes`)
/// is matched as it is.
pub fn normalize(raw: &str, rounds: u8) -> Cow<'_, str> {
    let decoded = url_decode(raw, rounds);
    let decoded = then(decoded, html_decode);
    let stripped = then(decoded, strip_sql_comments);
    then(stripped, squeeze)
}

/// `step` applied to `s`: `s` itself when the step changed nothing.
fn then<'a>(s: Cow<'a, str>, step: impl Fn(&str) -> Cow<'_, str>) -> Cow<'a, str> {
    match step(&s) {
        Cow::Borrowed(_) => s,
        Cow::Owned(changed) => Cow::Owned(changed),
    }
}

/// URL decoding (`+` as space) until stable, at most `rounds` passes.
pub fn url_decode(raw: &str, rounds: u8) -> Cow<'_, str> {
    let mut s = Cow::Borrowed(raw);
    for _ in 0..rounds {
        if !s.contains(['%', '+']) {
            break;
        }
        match decode_once(&s) {
            Some(next) => s = Cow::Owned(next),
            None => break,
        }
    }
    s
}

/// One pass of URL decoding in one walk over the bytes: `+` as a space, `%XX`, IIS's
/// `%uXXXX`; `None` when nothing was decoded.
fn decode_once(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut changed = false;
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => {
                out.push(b' ');
                changed = true;
                i += 1;
            }
            b'%' => {
                if let Some(ch) = iis_escape(&b[i + 1..]) {
                    out.extend_from_slice(ch.encode_utf8(&mut [0; 4]).as_bytes());
                    changed = true;
                    i += 6;
                } else if let (Some(h), Some(l)) = (hex(b.get(i + 1)), hex(b.get(i + 2))) {
                    out.push((h << 4) | l);
                    changed = true;
                    i += 3;
                } else {
                    out.push(b'%');
                    i += 1;
                }
            }
            _ => {
                let end = memchr::memchr2(b'+', b'%', &b[i..]).map_or(b.len(), |e| i + e);
                out.extend_from_slice(&b[i..end]);
                i = end;
            }
        }
    }
    changed.then(|| match String::from_utf8(out) {
        Ok(text) => text,
        Err(e) => lenient_utf8(e.as_bytes()),
    })
}

/// The value of a hex digit.
fn hex(b: Option<&u8>) -> Option<u8> {
    b.and_then(|&b| char::from(b).to_digit(16))
        .and_then(|d| u8::try_from(d).ok())
}

/// The character of an IIS `uXXXX` escape (after its `%`).
fn iis_escape(after: &[u8]) -> Option<char> {
    let digits = after
        .strip_prefix(b"u")
        .or_else(|| after.strip_prefix(b"U"))?;
    let digits = std::str::from_utf8(digits.get(..4)?).ok()?;
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    char::from_u32(u32::from_str_radix(digits, 16).ok()?)
}

/// `bytes` as text: UTF-8 where it is, an overlong form as its character, any other byte
/// as Latin-1 (never U+FFFD: a byte a backend reads as a space or a quote stays one).
pub fn lenient_utf8(mut bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    loop {
        match std::str::from_utf8(bytes) {
            Ok(s) => {
                out.push_str(s);
                return out;
            }
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(&String::from_utf8_lossy(valid));
                let Some((&first, _)) = rest.split_first() else {
                    return out;
                };
                let (c, used) = overlong(rest).unwrap_or((char::from(first), 1));
                out.push(c);
                bytes = &rest[used..];
            }
        }
    }
}

/// The character of an overlong UTF-8 form at the start of `b`, and its length.
fn overlong(b: &[u8]) -> Option<(char, usize)> {
    let cont = |x: u8| x & 0xC0 == 0x80;
    let low = |x: u8| u32::from(x & 0x3F);
    let (code, len) = match *b {
        [0xC0 | 0xC1, b1, ..] if cont(b1) => ((u32::from(b[0] & 1) << 6) | low(b1), 2),
        [0xE0, b1, b2, ..] if (0x80..0xA0).contains(&b1) && cont(b2) => {
            ((low(b1) << 6) | low(b2), 3)
        }
        [0xF0, b1, b2, b3, ..] if (0x80..0x90).contains(&b1) && cont(b2) && cont(b3) => {
            ((low(b1) << 12) | (low(b2) << 6) | low(b3), 4)
        }
        _ => return None,
    };
    char::from_u32(code).map(|c| (c, len))
}

const NAMED: [(&str, char); 8] = [
    ("colon", ':'),
    ("tab", '\t'),
    ("newline", '\n'),
    ("lt", '<'),
    ("gt", '>'),
    ("quot", '"'),
    ("apos", '\''),
    ("amp", '&'),
];

/// Decodes the HTML character references listed in the module docs (one pass).
pub fn html_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('&') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        match reference(after) {
            Some((c, used)) => {
                out.push(c);
                rest = &after[used..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// The character a reference after `&` stands for, and how many bytes it used.
fn reference(after: &str) -> Option<(char, usize)> {
    if let Some(num) = after.strip_prefix('#') {
        let (radix, digits_at) = match num.as_bytes().first() {
            Some(b'x' | b'X') => (16, 2),
            _ => (10, 1),
        };
        let digits = &after[digits_at..];
        let len = digits
            .find(|c: char| !c.is_digit(radix))
            .unwrap_or(digits.len())
            .min(8);
        let code = u32::from_str_radix(&digits[..len], radix).ok()?;
        let c = char::from_u32(code)?;
        let semi = usize::from(digits[len..].starts_with(';'));
        return Some((c, digits_at + len + semi));
    }
    let head = after
        .char_indices()
        .nth(8)
        .map_or(after, |(i, _)| &after[..i]);
    let lower = head.to_ascii_lowercase();
    NAMED.iter().find_map(|(name, c)| {
        let tail = lower.strip_prefix(name)?;
        let semi = usize::from(tail.starts_with(';'));
        Some((*c, name.len() + semi))
    })
}

/// Removes SQL comments as the module docs say.
pub fn strip_sql_comments(s: &str) -> Cow<'_, str> {
    // `#` and `--` comments end at a newline: without one, they change nothing.
    let b = s.as_bytes();
    let block = memchr::memchr(b'*', b).is_some()
        && (memchr::memmem::find(b, b"/*").is_some() || memchr::memmem::find(b, b"*/").is_some());
    let line = memchr::memchr(b'\n', b).is_some()
        && (memchr::memchr(b'#', b).is_some() || memchr::memmem::find(b, b"--").is_some());
    let comment = block || line;
    if !comment {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while !rest.is_empty() {
        if let Some(body) = rest.strip_prefix("/*!") {
            // MySQL executable comment: keep what is inside.
            let digits = body.len() - body.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            out.push(' ');
            rest = &body[digits..];
        } else if let Some(body) = rest.strip_prefix("/*") {
            out.push(' ');
            rest = body.find("*/").map_or("", |end| &body[end + 2..]);
        } else if let Some(body) = rest.strip_prefix("*/") {
            out.push(' ');
            rest = body;
        } else if rest.starts_with('#') || rest.starts_with("--") {
            match rest.find('\n') {
                Some(nl) => {
                    out.push(' ');
                    rest = &rest[nl + 1..];
                }
                None => {
                    out.push_str(&rest[..1]);
                    rest = &rest[1..];
                }
            }
        } else {
            let next = rest
                .char_indices()
                .skip(1)
                .find(|(_, c)| matches!(c, '/' | '*' | '#' | '-'))
                .map_or(rest.len(), |(i, _)| i);
            out.push_str(&rest[..next]);
            rest = &rest[next..];
        }
    }
    Cow::Owned(out)
}

/// Drops control characters and turns every whitespace run into one space.
pub fn squeeze(s: &str) -> Cow<'_, str> {
    let b = s.as_bytes();
    let plain = b.first() != Some(&b' ')
        && b.iter().enumerate().all(|(i, &c)| {
            c.is_ascii_graphic() || (c == b' ' && b.get(i + 1).is_none_or(|&n| n != b' '))
        });
    if plain {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut space = false;
    for c in s.chars() {
        if c.is_whitespace() {
            space = true;
        } else if !c.is_control() {
            if space && !out.is_empty() {
                out.push(' ');
            }
            space = false;
            out.push(c);
        }
    }
    if space && !out.is_empty() {
        out.push(' ');
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_decoding_is_repeated_up_to_the_bound() {
        assert_eq!(url_decode("a%2527b", 3), "a'b");
        assert_eq!(url_decode("a%252527b", 2), "a%27b", "bounded");
        assert_eq!(url_decode("union+select%20x", 3), "union select x");
        assert_eq!(
            url_decode("c%2B%2B", 3),
            "c  ",
            "`+` is a space in every pass"
        );
        assert_eq!(url_decode("100%", 3), "100%", "a broken escape stays");
        assert_eq!(url_decode("%ff", 1), "\u{ff}", "Latin-1");
        assert_eq!(url_decode("1%a0or%a01", 1), "1\u{a0}or\u{a0}1");
        assert_eq!(url_decode("%c0%ae%c0%ae%c0%af", 1), "../", "overlong");
        assert_eq!(url_decode("%e0%80%bcscript", 1), "<script");
        assert_eq!(url_decode("%u0027%u003c%uZZ", 1), "'<%uZZ", "IIS");
        assert_eq!(url_decode("caf%C3%A9", 1), "café");
    }

    #[test]
    fn html_references() {
        assert_eq!(html_decode("&#106;ava&#X73;cript&colon;"), "javascript:");
        assert_eq!(html_decode("&#60script&GT;"), "<script>");
        assert_eq!(html_decode("AT&T &amp; co &nosuch;"), "AT&T & co &nosuch;");
        assert_eq!(
            html_decode("&#;&#x;&#99999999999;"),
            "&#;&#x;&#99999999999;"
        );
    }

    #[test]
    fn sql_comments() {
        assert_eq!(strip_sql_comments("union/**/select"), "union select");
        assert_eq!(
            strip_sql_comments("union/*x*/all/*y*/select"),
            "union all select"
        );
        assert_eq!(strip_sql_comments("/*!50000union*/select"), " union select");
        assert_eq!(strip_sql_comments("union#x\nselect"), "union select");
        assert_eq!(strip_sql_comments("union-- x\nselect"), "union select");
        assert_eq!(strip_sql_comments("item #5 -- new"), "item #5 -- new");
        assert_eq!(strip_sql_comments("a/*unterminated"), "a ");
        assert_eq!(strip_sql_comments("päß/x"), "päß/x");
    }

    #[test]
    fn whitespace_and_controls() {
        assert_eq!(squeeze("union\t\n\r\u{b}\u{c}\u{a0}select"), "union select");
        assert!(matches!(squeeze("plain words"), Cow::Borrowed(_)));
        assert_eq!(squeeze("<scr\0ipt>"), "<script>");
        assert_eq!(squeeze("  a  "), "a ");
    }

    #[test]
    fn all_steps_together() {
        assert_eq!(
            normalize("UNION%252F%252A%252A%252FSELECT", 3),
            "UNION SELECT"
        );
        assert_eq!(
            normalize("java%09script%26colon%3balert(1)", 3),
            "java script:alert(1)"
        );
        assert_eq!(normalize("rock+'n'+roll", 3), "rock 'n' roll");
    }
}
