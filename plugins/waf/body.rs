//! The values the WAF checks in a request body, by its `Content-Type`:
//! - `application/x-www-form-urlencoded`: each field's name and value, like query arguments,
//!   and the values of a field given more than once joined (`repeats.rs`);
//! - `multipart/form-data`: read strictly (`multipart.rs`): each part's name, filename and
//!   content, file parts included; what could be read two ways is refused ([`Malformed`]);
//! - JSON (`application/json`, `text/json`, `…/json`, `…+json`): every string (keys and
//!   values, duplicate keys included), with the JSON escapes undone (`\u0075nion` is
//!   `union`); a body that does not parse is still read string by string (`json.rs`);
//! - anything else: the body as one text value.
//!
//! A request with several `Content-Type` fields is read in every way they declare (a
//! backend may take any of them), never in the weakest one alone.
//!
//! Each value is then normalized and matched like any other (`normalize.rs`).

use edgeproxy::kit::RequestHeader;

pub use super::multipart::Malformed;

/// How a body is split into values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// URL-encoded form fields.
    Form,
    /// `multipart/form-data` with this boundary.
    Multipart(String),
    /// A `multipart/form-data` whose `Content-Type` could be read two ways: refused.
    Malformed(Malformed),
    /// JSON strings.
    Json,
    /// The whole body as text.
    Text,
}

/// The kinds of `req`'s body, one per distinct `Content-Type` field (`Text` without one).
pub fn kinds(req: &RequestHeader) -> Vec<Kind> {
    let mut kinds = Vec::new();
    for v in req.headers.get_all(http::header::CONTENT_TYPE) {
        let k = kind_of(&String::from_utf8_lossy(v.as_bytes()));
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    if kinds.is_empty() {
        kinds.push(Kind::Text);
    }
    kinds
}

/// The kind of `req`'s body, from its (first) `Content-Type`.
pub fn kind(req: &RequestHeader) -> Kind {
    kinds(req).swap_remove(0)
}

fn kind_of(ct: &str) -> Kind {
    let (mime, params) = ct.split_at(ct.find(';').unwrap_or(ct.len()));
    let mime = mime.trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => Kind::Form,
        "multipart/form-data" => match super::multipart::boundary(params) {
            Ok(b) => Kind::Multipart(b),
            Err(m) => Kind::Malformed(m),
        },
        m if is_json(m) => Kind::Json,
        _ => Kind::Text,
    }
}

/// Whether a (lowercase) media type is JSON: `…/json` or `…+json`.
pub fn is_json(mime: &str) -> bool {
    mime.ends_with("/json") || mime.ends_with("+json")
}

/// Calls `check(name, value)` for each value of `body`, until one returns true (a blocking
/// match); returns whether one did. `complete`: `body` is the whole body.
pub fn each_value(
    kind: &Kind,
    body: &[u8],
    complete: bool,
    check: &mut dyn FnMut(&str, &str) -> bool,
) -> Result<bool, Malformed> {
    Ok(match kind {
        Kind::Form => form(&String::from_utf8_lossy(body), check),
        Kind::Multipart(boundary) => super::multipart::each_value(body, boundary, complete, check)?,
        Kind::Malformed(m) => return Err(*m),
        Kind::Json => super::json::each_string(body, check),
        Kind::Text => check("", &String::from_utf8_lossy(body)),
    })
}

fn form(text: &str, check: &mut dyn FnMut(&str, &str) -> bool) -> bool {
    let fields = || {
        text.split('&')
            .filter(|p| !p.is_empty())
            .map(|p| p.split_once('=').unwrap_or((p, "")))
    };
    let mut names = super::repeats::Names::default();
    for (name, value) in fields() {
        names.add(name);
        if check(name, name) || check(name, value) {
            return true;
        }
    }
    names.may_repeat() && super::repeats::each_joined(fields(), check)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(ct: Option<&str>, body: &str) -> Vec<(String, String)> {
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        if let Some(ct) = ct {
            req.insert_header("content-type", ct).unwrap();
        }
        let mut seen = Vec::new();
        let read = each_value(&kind(&req), body.as_bytes(), true, &mut |n, v| {
            seen.push((n.to_string(), v.to_string()));
            false
        });
        assert_eq!(read, Ok(false), "{body}");
        seen
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn forms_are_fields() {
        let v = values(
            Some("application/x-www-form-urlencoded; charset=utf-8"),
            "q=1+union+select&x",
        );
        assert_eq!(
            v,
            pairs(&[("q", "q"), ("q", "1+union+select"), ("x", "x"), ("x", "")])
        );
    }

    #[test]
    fn json_strings_with_escapes_undone_else_text() {
        let v = values(
            Some("application/json"),
            r#"{"q":["\u0075nion select",1],"n":null}"#,
        );
        assert_eq!(v, pairs(&[("q", "q"), ("q", "union select"), ("n", "n")]));
        let v = values(Some("application/vnd.api+json"), r#"{"q":"cut"#);
        // Cut: the key seen while parsing, then every literal and the text.
        assert_eq!(
            v,
            pairs(&[("q", "q"), ("", "q"), ("", "cut"), ("", r#"{"q":"cut"#)])
        );
        for ct in [
            "text/json",
            "application/problem+json",
            "Application/JSON; charset=utf-8",
        ] {
            assert_eq!(kind_of(ct), Kind::Json, "{ct}");
        }
    }

    #[test]
    fn multipart_parts_all_read_files_included() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1 union select\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.html\"\r\n\
                    Content-Type: text/html\r\n\r\n<b>ok</b>\r\n--XyZ--\r\n";
        let v = values(Some("multipart/form-data; boundary=\"XyZ\""), body);
        assert_eq!(
            v,
            pairs(&[
                ("q", "q"),
                ("q", "1 union select"),
                ("f", "f"),
                ("f", "a.html"),
                ("f", "<b>ok</b>")
            ])
        );
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        req.insert_header(
            "content-type",
            "multipart/form-data; boundary=a; boundary=b",
        )
        .unwrap();
        assert!(matches!(kind(&req), Kind::Malformed(_)));
    }

    #[test]
    fn two_content_types_are_both_read() {
        let mut req = RequestHeader::build("POST", b"/", None).unwrap();
        req.append_header("content-type", "text/plain").unwrap();
        req.append_header("content-type", "application/json")
            .unwrap();
        assert_eq!(kinds(&req), vec![Kind::Text, Kind::Json]);
    }

    #[test]
    fn anything_else_is_one_text_value() {
        assert_eq!(values(None, "a=b"), pairs(&[("", "a=b")]));
        assert_eq!(values(Some("text/plain"), "x"), pairs(&[("", "x")]));
    }
}
