use super::*;

fn doc(json: &str) -> Doc {
    Doc::parse(Bytes::copy_from_slice(json.as_bytes())).unwrap()
}

/// The node at a dotted path.
fn at<'a>(d: &'a Doc, path: &str) -> &'a Node {
    let mut n = d.root();
    for seg in path.split('.').filter(|s| !s.is_empty()) {
        n = d.child(n, seg).unwrap_or_else(|| panic!("no {path}"));
    }
    n
}

/// The string at a path, and how it is kept.
fn string(d: &Doc, path: &str) -> (String, &'static str) {
    let Node::Str(t) = at(d, path) else {
        panic!("{path} is not a string");
    };
    let mut bytes = Vec::new();
    d.pieces(t, |p| bytes.extend_from_slice(p));
    let kept = match t {
        Text::Raw(_) => "raw",
        Text::Escaped(_) => "escaped",
        Text::Owned(_) => "owned",
    };
    (String::from_utf8(bytes).unwrap(), kept)
}

#[test]
fn strings_are_spans_of_the_bytes_escaped_or_not() {
    let long = "Lorem ipsum dolor sit amet; 5.5 & more ".repeat(200);
    let d = doc(&format!(
        r#"{{"plain": "Product <7> & 'friends'", "utf8": "ünïcödé 日本語 😀",
            "quote": "5.5\" display", "slash": "a\/b\\c", "ctl": "a\nb\tc",
            "u": "caf\u00e9 \u65e5", "pair": "\ud83d\ude00!", "empty": "",
            "lt": "\u003cb\u003e", "desc": "{long}", "desc2": "{long}\"{long}"}}"#
    ));
    let s = |path| string(&d, path);
    assert_eq!(s("plain"), ("Product <7> & 'friends'".into(), "raw"));
    assert_eq!(s("utf8"), ("ünïcödé 日本語 😀".into(), "raw"));
    assert_eq!(s("quote"), ("5.5\" display".into(), "escaped"));
    assert_eq!(s("slash"), ("a/b\\c".into(), "escaped"));
    assert_eq!(s("ctl"), ("a\nb\tc".into(), "escaped"));
    assert_eq!(s("u"), ("café 日".into(), "escaped"));
    assert_eq!(s("pair"), ("😀!".into(), "escaped"));
    assert_eq!(s("empty"), ("".into(), "raw"));
    assert_eq!(s("lt"), ("<b>".into(), "escaped"));
    assert_eq!(s("desc"), (long.clone(), "raw"));
    assert_eq!(s("desc2"), (format!("{long}\"{long}"), "escaped"));
}

#[test]
fn every_string_is_found_after_escaped_keys_and_values() {
    // Escaped and plain strings, keys and values, in arrays and objects, mixed with
    // numbers and literals: each must be found where it is (none copied).
    let json = r#"{"a\"b": ["x\\", 1, "y", {"k\u0041": "\"v\"", "n": null}], "t": true,
                  "z": "\\\"", "e": [], "last": "\u00e9"}"#;
    let d = doc(json);
    assert_eq!(string(&d, "a\"b.0"), ("x\\".into(), "escaped"));
    assert_eq!(string(&d, "a\"b.2"), ("y".into(), "raw"));
    assert_eq!(string(&d, "a\"b.3.kA"), ("\"v\"".into(), "escaped"));
    assert_eq!(string(&d, "z"), ("\\\"".into(), "escaped"));
    assert_eq!(string(&d, "last"), ("é".into(), "escaped"));
    let want: Value = serde_json::from_str(json).unwrap();
    assert_eq!(d.to_value(), want);
    let Node::Object(fields) = d.root() else {
        panic!("not an object");
    };
    assert!(fields.iter().all(|(k, _)| !matches!(k, Text::Owned(_))));
}

#[test]
fn numbers_print_as_serde_json_prints_them() {
    let cases = [
        ("0.99", "0.99"),
        ("99.5", "99.5"),
        ("1.0", "1.0"),
        ("-3", "-3"),
        ("0", "0"),
        ("18446744073709551615", "18446744073709551615"),
        ("-9223372036854775808", "-9223372036854775808"),
        // Exponents and integers beyond 64 bits: floats, printed as serde_json prints them.
        ("1e21", ""),
        ("1E2", ""),
        ("0.1e-5", ""),
        ("123456789012345678901234567890", ""),
        ("-0.0", ""),
    ];
    for (json, want) in cases {
        let d = doc(json);
        let Node::Number(n) = d.root() else {
            panic!("{json}: not a number");
        };
        let v: Value = serde_json::from_str(json).unwrap();
        assert_eq!(n.to_string(), v.to_string(), "{json}");
        if !want.is_empty() {
            assert_eq!(n.to_string(), want, "{json}");
        }
        assert_eq!(d.to_value(), v, "{json}");
    }
}

#[test]
fn nested_paths_through_objects_and_arrays() {
    let d = doc(
        r#"{"p": {"tags": ["a", ["b", {"c": "deep"}]], "o": {"x": {"y": null}},
                     "t": true, "f": false}}"#,
    );
    assert_eq!(string(&d, "p.tags.0"), ("a".into(), "raw"));
    assert_eq!(string(&d, "p.tags.1.0"), ("b".into(), "raw"));
    assert_eq!(string(&d, "p.tags.1.1.c"), ("deep".into(), "raw"));
    assert!(matches!(at(&d, "p.o.x.y"), Node::Null));
    assert!(matches!(at(&d, "p.t"), Node::Bool(true)));
    assert!(matches!(at(&d, "p.f"), Node::Bool(false)));
    let p = at(&d, "p");
    for missing in ["nope", "2"] {
        assert!(d.child(p, missing).is_none(), "{missing}");
    }
    let tags = at(&d, "p.tags");
    for bad in ["2", "-1", "x", "01x", ""] {
        assert!(d.child(tags, bad).is_none(), "{bad}");
    }
    assert!(
        d.child(at(&d, "p.t"), "0").is_none(),
        "a leaf has no children"
    );
}

#[test]
fn the_last_of_duplicate_keys_counts_as_in_serde_json() {
    let json = r#"{"k": 1, "other": 2, "k": "last"}"#;
    let d = doc(json);
    assert_eq!(string(&d, "k"), ("last".into(), "raw"));
    assert_eq!(d.to_value(), serde_json::from_str::<Value>(json).unwrap());
}

#[test]
fn converts_to_the_value_serde_json_reads() {
    for json in [
        r#"{"id": 7, "name": "Product <7> & 'friends'", "price": 99.5, "none": null,
            "tags": ["a", "b\n", 3, [true, {}], []], "nested": {"deep": {"v": "ünï \u00e9"}}}"#,
        "  [1, -2, 3.5, \"x\", null, {\"a\": {\"b\": [\"c\"]}}]  ",
        "\"top-level string\"",
        "null",
        "{}",
    ] {
        let want: Value = serde_json::from_str(json).unwrap();
        assert_eq!(doc(json).to_value(), want, "{json}");
        assert_eq!(Doc::from_value(&want).unwrap().to_value(), want, "{json}");
    }
}

#[test]
fn refuses_what_serde_json_refuses() {
    let deep = "[".repeat(10_000) + &"]".repeat(10_000);
    for bad in [
        &b"{\"a\": 1} trailing"[..],
        b"{\"a\": ",
        b"{\"a\" 1}",
        b"[1, 2,]",
        b"\"\\ud800\"",
        b"\"bad \xff utf-8\"",
        b"\"\\x\"",
        b"NaN",
        b"",
        deep.as_bytes(),
    ] {
        assert!(
            serde_json::from_slice::<Value>(bad).is_err(),
            "test case itself: {bad:?}"
        );
        assert!(
            Doc::parse(Bytes::copy_from_slice(bad)).is_err(),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
}

#[test]
fn a_value_costs_24_bytes_and_a_field_48() {
    let sizes = (std::mem::size_of::<Node>(), std::mem::size_of::<Text>());
    println!("{sizes:?}");
    assert!(sizes.0 <= 24 && sizes.1 <= 24, "{sizes:?}");
}

#[test]
fn a_string_not_found_is_copied_and_the_next_plain_one_finds_the_way_again() {
    let base = br#"["a\"b", "c"]"#;
    let lost = Cell::new(None);
    assert!(matches!(text(base, &lost, "a\"b", false), Text::Owned(_)));
    let c = std::str::from_utf8(&base[10..11]).unwrap();
    assert!(matches!(text(base, &lost, c, true), Text::Raw(_)));
    assert_eq!(lost.get(), Some(12), "after the closing quote of \"c\"");
    // Text that does not decode to the string read stays a copy.
    let cursor = Cell::new(Some(0));
    assert!(matches!(text(base, &cursor, "a\"X", false), Text::Owned(_)));
    assert_eq!(cursor.get(), None);
}
