//! HTML escaping for templates: the same output as handlebars' default `html_escape`
//! (`< > " & ' ` =`), without its per-character pushes into a growing string. Handlebars
//! calls the escape function once per `{{value}}`; this one copies runs without special
//! characters whole (finding them 16 bytes at a time) and returns the input's copy at once
//! when it has none (most fields). [`escape_json_into`] does the same for a string still in
//! its JSON form (`doc.rs`), decoding its escapes on the way.

/// Bytes that handlebars escapes.
const SPECIAL: [u8; 7] = [b'<', b'>', b'"', b'&', b'\'', b'`', b'='];

/// The bytes to stop at in a string's JSON text: those escaped for HTML, and the backslash
/// starting a JSON escape.
const SPECIAL_OR_BACKSLASH: [u8; 8] = [b'<', b'>', b'"', b'&', b'\'', b'`', b'=', b'\\'];

/// Width of the blocks [`next_stop`] tests at once.
const BLOCK: usize = 16;

/// Whether `block` holds one of `stops`: one compare of the whole block per stop, which
/// the compiler makes a vector compare. (A chain of compares per byte of the block, the
/// obvious form, is not vectorized: 110k instructions a request on `page-zipf` against
/// 81k, `bench/instr.py`.)
#[inline(always)]
fn block_holds(block: &[u8; BLOCK], stops: &[u8]) -> bool {
    let holds = |c: u8| block.iter().fold(0u8, |m, &b| m | u8::from(b == c));
    stops.iter().fold(0, |m, &c| m | holds(c)) != 0
}

/// The offset of the first byte at or after `from` that is one of `stops`: blocks of 16
/// bytes are tested whole before looking byte by byte.
#[inline(always)]
fn next_stop(bytes: &[u8], from: usize, stops: &[u8]) -> Option<usize> {
    let mut at = from;
    while let Some(block) = bytes.get(at..at + BLOCK) {
        let block: &[u8; BLOCK] = block.try_into().ok()?;
        if block_holds(block, stops) {
            break;
        }
        at += BLOCK;
    }
    let found = bytes.get(at..)?.iter().position(|b| stops.contains(b))?;
    Some(at + found)
}

fn entity(b: u8) -> &'static str {
    match b {
        b'<' => "&lt;",
        b'>' => "&gt;",
        b'"' => "&quot;",
        b'&' => "&amp;",
        b'\'' => "&#x27;",
        b'`' => "&#x60;",
        _ => "&#x3D;",
    }
}

/// `s` HTML-escaped, exactly as `handlebars::html_escape` does it.
pub fn escape_html(s: &str) -> String {
    if next_stop(s.as_bytes(), 0, &SPECIAL).is_none() {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(s.len() + s.len() / 8 + 8);
    escape_into(s.as_bytes(), &mut out);
    // Only ASCII entities were put between pieces of `s` cut at ASCII bytes.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends UTF-8 `bytes` HTML-escaped (as [`escape_html`]) to `out`.
#[inline(never)] // the block test is vectorized as written only out of line
pub fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    let mut from = 0;
    while let Some(i) = next_stop(bytes, from, &SPECIAL) {
        out.extend_from_slice(bytes.get(from..i).unwrap_or_default());
        out.extend_from_slice(entity(bytes.get(i).copied().unwrap_or_default()).as_bytes());
        from = i + 1;
    }
    out.extend_from_slice(bytes.get(from..).unwrap_or_default());
}

/// Appends the JSON string whose raw text (between the quotes, escapes and all) is `raw`
/// decoded and HTML-escaped, in one pass; `false` at an escape JSON does not allow (after
/// the text before it).
#[inline(never)] // as `escape_into`
pub fn escape_json_into(raw: &[u8], out: &mut Vec<u8>) -> bool {
    let mut from = 0;
    while let Some(i) = next_stop(raw, from, &SPECIAL_OR_BACKSLASH) {
        out.extend_from_slice(raw.get(from..i).unwrap_or_default());
        let rest = raw.get(i..).unwrap_or_default();
        let Some((&b, after)) = rest.split_first() else {
            break;
        };
        if b != b'\\' {
            out.extend_from_slice(entity(b).as_bytes());
            from = i + 1;
            continue;
        }
        let Some((c, len)) = super::jsonstr::unescape(after) else {
            return false;
        };
        match c.encode_utf8(&mut [0; 4]).as_bytes() {
            [b] if SPECIAL.contains(b) => out.extend_from_slice(entity(*b).as_bytes()),
            utf8 => out.extend_from_slice(utf8),
        }
        from = i + 1 + len; // `unescape` takes at most the bytes there are
    }
    out.extend_from_slice(raw.get(from..).unwrap_or_default());
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_as_handlebars() {
        let samples = [
            "",
            "plain text",
            "<b>\"x\" & 'y'</b> `z` = 1",
            "Product <7> & 'friends'",
            "ünïcödé <> 日本語 & ok",
            "&&&",
            "tail&",
            "=start",
        ];
        for s in samples {
            assert_eq!(escape_html(s), handlebars::html_escape(s), "{s:?}");
        }
        let long: String = (0..5000)
            .map(|i| ['a', '<', 'é', '&', ' '][i % 5])
            .collect();
        assert_eq!(escape_html(&long), handlebars::html_escape(&long));
    }

    #[test]
    fn every_position_around_block_edges() {
        for len in 0..3 * BLOCK + 2 {
            for at in 0..len {
                for c in ['<', '"', '=', 'é'] {
                    let mut s: String = "a".repeat(len);
                    s.replace_range(at..at + 1, &c.to_string());
                    let s = s + "&";
                    assert_eq!(escape_html(&s), handlebars::html_escape(&s), "{s:?}");
                    let raw = s.replace('"', "\\\"");
                    let mut out = Vec::new();
                    assert!(escape_json_into(raw.as_bytes(), &mut out), "{raw:?}");
                    assert_eq!(out, handlebars::html_escape(&s).into_bytes(), "{raw:?}");
                }
            }
        }
    }

    #[test]
    fn json_text_is_decoded_then_escaped_as_handlebars_escapes_the_string() {
        for raw in [
            "",
            "plain",
            r#"5.5\" display & more"#,
            r#"\u003cb\u003e \u0026 \u0027q\u0027 \u0060 \u003d"#,
            r#"caf\u00e9 \ud83d\ude00 \\ \/ \n\t<>"#,
            r#"end\\"#,
            r#"\"\"\""#,
        ] {
            let s: String = serde_json::from_str(&format!("\"{raw}\"")).unwrap();
            let mut out = Vec::new();
            assert!(escape_json_into(raw.as_bytes(), &mut out), "{raw}");
            assert_eq!(
                String::from_utf8(out).unwrap(),
                handlebars::html_escape(&s),
                "{raw}"
            );
        }
        for bad in [r"\x", r"a\", r"\u12", r"\ud800"] {
            assert!(!escape_json_into(bad.as_bytes(), &mut Vec::new()), "{bad}");
        }
    }
}
