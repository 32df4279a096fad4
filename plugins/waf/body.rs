//! The values the WAF checks in a request body, by its `Content-Type`:
//! - `application/x-www-form-urlencoded`: each field's name and value, like query arguments;
//! - `multipart/form-data`: each field's name and value; file parts (with a `filename`) are
//!   skipped (an uploaded HTML file is not an attack on us);
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

/// How a body is split into values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// URL-encoded form fields.
    Form,
    /// `multipart/form-data` with this boundary.
    Multipart(String),
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
    let mut params = ct.split(';');
    let mime = params.next().unwrap_or("").trim().to_ascii_lowercase();
    match mime.as_str() {
        "application/x-www-form-urlencoded" => Kind::Form,
        "multipart/form-data" => params
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
            .map_or(Kind::Text, Kind::Multipart),
        m if m.ends_with("/json") || m.ends_with("+json") => Kind::Json,
        _ => Kind::Text,
    }
}

/// Calls `check(name, value)` for each value of `body`, until one returns true (a blocking
/// match); returns whether one did.
pub fn each_value(kind: &Kind, body: &[u8], check: &mut dyn FnMut(&str, &str) -> bool) -> bool {
    match kind {
        Kind::Form => form(&String::from_utf8_lossy(body), check),
        Kind::Multipart(boundary) => match multipart(body, boundary, check) {
            Some(blocked) => blocked,
            None => check("", &String::from_utf8_lossy(body)),
        },
        Kind::Json => super::json::each_string(body, check),
        Kind::Text => check("", &String::from_utf8_lossy(body)),
    }
}

fn form(text: &str, check: &mut dyn FnMut(&str, &str) -> bool) -> bool {
    text.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .any(|(name, value)| check(name, name) || check(name, value))
}

/// The fields of a multipart body; `None` when it has no part at all (not multipart).
fn multipart(
    body: &[u8],
    boundary: &str,
    check: &mut dyn FnMut(&str, &str) -> bool,
) -> Option<bool> {
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut parts = text.split(delimiter.as_str()).skip(1).peekable();
    parts.peek()?;
    for part in parts {
        if part.starts_with("--") {
            break; // the closing delimiter
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let (head, value) = part.split_once("\r\n\r\n").unwrap_or((part, ""));
        let value = value.strip_suffix("\r\n").unwrap_or(value);
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("");
        if param(disposition, "filename").is_some() {
            continue;
        }
        let name = param(disposition, "name").unwrap_or("");
        if check(name, name) || check(name, value) {
            return Some(true);
        }
    }
    Some(false)
}

/// The value of `key="…"` (or `key=…`) in a header line's parameters.
fn param<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split(';').skip(1).find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case(key)
            .then(|| v.trim().trim_matches('"'))
    })
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
        each_value(&kind(&req), body.as_bytes(), &mut |n, v| {
            seen.push((n.to_string(), v.to_string()));
            false
        });
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
    fn multipart_fields_without_files() {
        let body = "--XyZ\r\nContent-Disposition: form-data; name=\"q\"\r\n\r\n1 union select\r\n\
                    --XyZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.html\"\r\n\
                    Content-Type: text/html\r\n\r\n<script>ok</script>\r\n--XyZ--\r\n";
        let v = values(Some("multipart/form-data; boundary=\"XyZ\""), body);
        assert_eq!(v, pairs(&[("q", "q"), ("q", "1 union select")]));
        let v = values(Some("multipart/form-data; boundary=Other"), "plain");
        assert_eq!(v, pairs(&[("", "plain")]), "no part: the text");
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
