//! The strict multipart reader: what browsers send is read part by part; what a backend
//! could read another way is refused.

use super::multipart::{boundary, each_value, Malformed};

/// Every `(name, value)` checked, or the refusal.
fn read(ct_params: &str, body: &str, complete: bool) -> Result<Vec<(String, String)>, Malformed> {
    let b = boundary(ct_params)?;
    let mut seen = Vec::new();
    each_value(body.as_bytes(), &b, complete, &mut |n, v| {
        seen.push((n.to_string(), v.to_string()));
        false
    })?;
    Ok(seen)
}

fn refused(ct_params: &str, body: &str) -> bool {
    read(ct_params, body, true).is_err()
}

const B: &str = "; boundary=XyZ";

fn part(head: &str, content: &str) -> String {
    format!("--XyZ\r\n{head}\r\n\r\n{content}\r\n")
}

fn ok_body(parts: &[String]) -> String {
    format!("{}--XyZ--\r\n", parts.concat())
}

#[test]
fn what_browsers_send_is_read_part_by_part_files_included() {
    let body = ok_body(&[
        part("Content-Disposition: form-data; name=\"q\"", "1 union select"),
        part(
            "Content-Disposition: form-data; name=\"f\"; filename=\"x<script>.html\"\r\nContent-Type: text/html",
            "<b>hi</b>",
        ),
        part(
            "Content-Disposition: form-data; name=\"j\"\r\nContent-Type: application/json",
            r#"{"a":"\u003cscript>"}"#,
        ),
    ]);
    let seen = read("; boundary=\"XyZ\"", &body, true).unwrap();
    let values: Vec<&str> = seen.iter().map(|(_, v)| v.as_str()).collect();
    for want in [
        "q",
        "1 union select",
        "x<script>.html",
        "<b>hi</b>",
        "<script>",
    ] {
        assert!(values.contains(&want), "{want} not seen in {values:?}");
    }
    // Quoted or not, the same boundary; no epilogue CRLF is fine too.
    assert!(read(B, body.trim_end(), true).is_ok());
    let star = ok_body(&[part(
        "Content-Disposition: form-data; name=\"f\"; filename*=UTF-8''%3Cscript%3E.txt",
        "x",
    )]);
    assert!(read(B, &star, true)
        .unwrap()
        .iter()
        .any(|(_, v)| v == "<script>.txt"));
}

#[test]
fn a_quoted_semicolon_or_filename_does_not_make_a_field_a_file() {
    let body = ok_body(&[part(
        "Content-Disposition: form-data; name=\"a;filename=x.txt\"",
        "1 union select",
    )]);
    let seen = read(B, &body, true).unwrap();
    assert_eq!(seen[0].1, "a;filename=x.txt", "the whole quoted name");
    assert!(seen.iter().any(|(_, v)| v == "1 union select"));
}

#[test]
fn content_type_ambiguities_are_refused() {
    let body = ok_body(&[part("Content-Disposition: form-data; name=\"q\"", "x")]);
    for params in [
        "; boundary=XyZ; boundary=Other",
        "; BOUNDARY=XyZ; boundary=XyZ",
        "; charset=\"boundary=Other\"; boundary=XyZ",
        "; boundary=\"XyZ\"junk",
        "; boundary=Xy\"Z\"",
        "; boundary=\"Xy\\\"Z\"",
        "; boundary=",
        "; boundary=\"a<b\"",
        "",
    ] {
        assert!(refused(params, &body), "accepted: {params}");
    }
    assert!(!refused("; charset=utf-8; boundary=XyZ;", &body));
}

#[test]
fn body_ambiguities_are_refused() {
    let field = part("Content-Disposition: form-data; name=\"q\"", "x");
    let whole = ok_body(std::slice::from_ref(&field));
    let cases = [
        ("LF-only lines", whole.clone().replace("\r\n", "\n")),
        ("LF-only delimiter inside a part", ok_body(&[part(
            "Content-Disposition: form-data; name=\"q\"",
            "x\n--XyZ\nContent-Disposition: form-data; name=\"evil\"\n\n<script>",
        )])),
        ("no closing boundary", field.clone()),
        ("a preamble", format!("junk\r\n{}", whole.clone())),
        ("an epilogue", format!("{}trailer", whole.clone())),
        ("padding after a delimiter", whole.clone().replacen("--XyZ\r\n", "--XyZ \r\n", 1)),
        ("two dispositions", ok_body(&[part(
            "Content-Disposition: form-data; name=\"a\"\r\nContent-Disposition: form-data; name=\"b\"",
            "x",
        )])),
        ("no disposition", ok_body(&[part("Content-Type: text/plain", "x")])),
        ("not form-data", ok_body(&[part("Content-Disposition: attachment; name=\"q\"", "x")])),
        ("no name", ok_body(&[part("Content-Disposition: form-data; filename=\"a\"", "x")])),
        ("name twice", ok_body(&[part("Content-Disposition: form-data; name=\"a\"; name=\"b\"", "x")])),
        ("filename twice", ok_body(&[part(
            "Content-Disposition: form-data; name=\"a\"; filename=\"x.txt\"; filename=\"y.php\"",
            "x",
        )])),
        ("a quoted-pair", ok_body(&[part("Content-Disposition: form-data; name=\"a\\\"b\"", "x")])),
        ("base64", ok_body(&[part(
            "Content-Disposition: form-data; name=\"a\"\r\nContent-Transfer-Encoding: base64",
            "PHNjcmlwdD4=",
        )])),
        ("a folded header", ok_body(&[part("Content-Disposition: form-data;\r\n name=\"a\"", "x")])),
        ("a bare LF in a header", ok_body(&[part(
            "Content-Disposition: form-data; name=\"a\"\nContent-Type: text/plain",
            "x",
        )])),
    ];
    for (what, body) in cases {
        assert!(refused(B, &body), "accepted: {what}");
    }
}

#[test]
fn a_body_seen_in_part_is_read_as_far_as_it_goes() {
    let cut = "--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1 union sel";
    let seen = read(B, cut, false).unwrap();
    assert!(seen.iter().any(|(_, v)| v == "1 union sel"), "{seen:?}");
    assert!(read(B, cut, true).is_err(), "whole: no closing boundary");
}
