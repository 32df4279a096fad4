//! HTML escaping for templates: the same output as handlebars' default `html_escape`
//! (`< > " & ' ` =`), without its per-character pushes into a growing string. Handlebars
//! calls the escape function once per `{{value}}`; this one copies runs without special
//! characters whole and returns the input's copy at once when it has none (most fields).

/// Bytes that handlebars escapes.
const fn special(b: u8) -> bool {
    matches!(b, b'<' | b'>' | b'"' | b'&' | b'\'' | b'`' | b'=')
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
    if !s.bytes().any(special) {
        return s.to_owned();
    }
    let mut out = Vec::with_capacity(s.len() + s.len() / 8 + 8);
    escape_into(s.as_bytes(), &mut out);
    // Only ASCII entities were put between pieces of `s` cut at ASCII bytes.
    String::from_utf8(out).unwrap_or_default()
}

/// Appends UTF-8 `bytes` HTML-escaped (as [`escape_html`]) to `out`.
pub fn escape_into(bytes: &[u8], out: &mut Vec<u8>) {
    let mut from = 0;
    for (i, b) in bytes.iter().enumerate() {
        if special(*b) {
            out.extend_from_slice(&bytes[from..i]);
            out.extend_from_slice(entity(*b).as_bytes());
            from = i + 1;
        }
    }
    out.extend_from_slice(&bytes[from..]);
}

/// Appends the JSON string whose raw text (between the quotes, escapes and all) is `raw`
/// decoded and HTML-escaped, in one pass; `false` at an escape JSON does not allow (after
/// the text before it).
pub fn escape_json_into(raw: &[u8], out: &mut Vec<u8>) -> bool {
    let (mut from, mut i) = (0, 0);
    while let Some(&b) = raw.get(i) {
        if b == b'\\' {
            out.extend_from_slice(&raw[from..i]);
            let Some((c, len)) = super::jsonstr::unescape(&raw[i + 1..]) else {
                return false;
            };
            match c.encode_utf8(&mut [0; 4]).as_bytes() {
                [b] if special(*b) => out.extend_from_slice(entity(*b).as_bytes()),
                utf8 => out.extend_from_slice(utf8),
            }
            i += 1 + len; // `unescape` takes at most the bytes there are
            from = i;
        } else {
            if special(b) {
                out.extend_from_slice(&raw[from..i]);
                out.extend_from_slice(entity(b).as_bytes());
                from = i + 1;
            }
            i += 1;
        }
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
