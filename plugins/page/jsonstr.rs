//! JSON string escapes, for strings a parsed document (`doc.rs`) keeps as their raw text in
//! the stored bytes: where a string's raw text lies, and its characters decoded piece by
//! piece (runs between escapes as they are, each escape as its character's UTF-8).

/// Where the raw text of the first JSON string starting at or after `from` lies in `json`:
/// the offsets after its opening quote and of its closing quote. `None` without a complete
/// string there.
pub fn locate(json: &[u8], from: usize) -> Option<(usize, usize)> {
    let start = from + memchr::memchr(b'"', json.get(from..)?)? + 1;
    let mut at = start;
    loop {
        let hit = at + memchr::memchr2(b'"', b'\\', json.get(at..)?)?;
        if json.get(hit) == Some(&b'"') {
            return Some((start, hit));
        }
        at = hit + 2; // a backslash and the character it escapes
    }
}

/// Hands the UTF-8 of the JSON string whose raw text (between the quotes) is `raw` to
/// `piece`, in order. `false` at an escape JSON does not allow (after the pieces before it).
pub fn decode(raw: &[u8], mut piece: impl FnMut(&[u8])) -> bool {
    let mut rest = raw;
    while let Some(i) = memchr::memchr(b'\\', rest) {
        let (run, escape) = rest.split_at(i);
        piece(run);
        let Some((c, len)) = unescape(escape.get(1..).unwrap_or_default()) else {
            return false;
        };
        piece(c.encode_utf8(&mut [0; 4]).as_bytes());
        rest = escape.get(1 + len..).unwrap_or_default();
    }
    piece(rest);
    true
}

/// Whether the raw text `raw` decodes to exactly `s`.
pub fn decodes_to(raw: &[u8], s: &str) -> bool {
    let mut want = s.as_bytes();
    let mut same = true;
    let valid = decode(raw, |p| match want.strip_prefix(p) {
        Some(rest) if same => want = rest,
        _ => same = false,
    });
    valid && same && want.is_empty()
}

/// The character of the escape whose text after the backslash starts `s`, and how many
/// bytes of `s` it takes.
pub fn unescape(s: &[u8]) -> Option<(char, usize)> {
    let c = match *s.first()? {
        b'"' => '"',
        b'\\' => '\\',
        b'/' => '/',
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let high = hex4(s.get(1..5)?)?;
            if !(0xD800..0xDC00).contains(&high) {
                // A lone low surrogate is no character: `from_u32` refuses it.
                return Some((char::from_u32(high)?, 5));
            }
            // A surrogate pair, e.g. `\ud83d\ude00`.
            if s.get(5..7)? != b"\\u" {
                return None;
            }
            let low = hex4(s.get(7..11)?)?;
            if !(0xDC00..0xE000).contains(&low) {
                return None;
            }
            let c = 0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00);
            return Some((char::from_u32(c)?, 11));
        }
        _ => return None,
    };
    Some((c, 1))
}

/// Four hex digits.
fn hex4(s: &[u8]) -> Option<u32> {
    if s.len() != 4 {
        return None;
    }
    s.iter()
        .try_fold(0, |n, &b| Some(n * 16 + char::from(b).to_digit(16)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decoded(raw: &str) -> Option<String> {
        let mut out = Vec::new();
        decode(raw.as_bytes(), |p| out.extend_from_slice(p)).then(|| String::from_utf8(out).ok())?
    }

    #[test]
    fn decodes_what_serde_json_decodes() {
        for raw in [
            "",
            "plain",
            r#"5.5\" display"#,
            r#"\\\/\b\f\n\r\t"#,
            r#"caf\u00e9 \u65E5\u672c"#,
            r#"\ud83d\ude00 smile"#,
            r#"\u003cb\u003e & ünï"#,
            r#"\\u0041 is not an escape"#,
            r#"end\\"#,
        ] {
            let want: String = serde_json::from_str(&format!("\"{raw}\"")).unwrap();
            assert_eq!(decoded(raw).as_deref(), Some(want.as_str()), "{raw}");
            assert!(decodes_to(raw.as_bytes(), &want), "{raw}");
            assert!(!decodes_to(raw.as_bytes(), &format!("{want}x")), "{raw}");
        }
        for bad in [
            r"\x",
            r"\u12",
            r"\u12g4",
            r"\ud800",
            r"\ud800\u0041",
            r"\udc00",
            "a\\",
        ] {
            assert_eq!(decoded(bad), None, "{bad}");
            assert!(!decodes_to(bad.as_bytes(), ""), "{bad}");
        }
        assert!(!decodes_to(b"ab", "a"));
        assert!(!decodes_to(b"a", "ab"));
    }

    #[test]
    fn locates_raw_text_past_escaped_quotes_and_backslashes() {
        let json = br#"{"k": "a\"b\\", "n": 1}"#;
        let (start, end) = locate(json, 0).unwrap();
        assert_eq!(&json[start..end], b"k");
        let (start, end) = locate(json, end + 1).unwrap();
        assert_eq!(&json[start..end], br#"a\"b\\"#);
        let (start, end) = locate(json, end + 1).unwrap();
        assert_eq!(&json[start..end], b"n");
        assert_eq!(locate(json, end + 1), None);
        assert_eq!(locate(br#""unterminated\""#, 0), None);
        assert_eq!(locate(b"x", 5), None);
    }
}
