//! What a valid token gives later plugins ([`JwtClaims`] in `ctx.extensions`) and the
//! upstream (`claims_to_headers`).

use std::collections::BTreeMap;

use http::HeaderValue;
use serde_json::Value;

use super::verify::Claims;

/// The verified token's subject and selected claims, inserted into `ctx.extensions` by
/// `jwt-auth` for later plugins: `ctx.extensions.get::<JwtClaims>()`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JwtClaims {
    /// The `sub` claim, when it is a string.
    pub subject: Option<String>,
    /// The claims named in `claims` and `claims_to_headers` that the token has.
    pub claims: BTreeMap<String, Value>,
}

impl JwtClaims {
    /// The subject and the claims named in `names` out of `all`.
    pub fn select<'a>(all: &Claims, names: impl IntoIterator<Item = &'a String>) -> JwtClaims {
        JwtClaims {
            subject: all.get("sub").and_then(Value::as_str).map(String::from),
            claims: names
                .into_iter()
                .filter_map(|n| all.get(n).map(|v| (n.clone(), v.clone())))
                .collect(),
        }
    }
}

/// A claim as a header value: strings as they are, numbers and booleans as JSON, arrays of
/// those joined with `,`. `None` for objects, nulls, and what a header cannot carry
/// (control or non-ASCII characters: the header is then left out, not mangled).
pub fn header_value(v: &Value) -> Option<HeaderValue> {
    let text = match v {
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(scalar).collect();
            parts?.join(",")
        }
        v => scalar(v)?,
    };
    // `from_str` also takes obs-text (bytes ≥ 0x80): printable ASCII only.
    let printable = text.bytes().all(|b| b == b' ' || b.is_ascii_graphic());
    printable
        .then(|| HeaderValue::from_str(&text).ok())
        .flatten()
}

/// A claim as a variable (`$jwt_NAME`): like [`header_value`], but any text (variables
/// are escaped where they are written, e.g. in access logs).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::Array(items) => {
            let parts: Option<Vec<String>> = items.iter().map(scalar).collect();
            Some(parts?.join(","))
        }
        v => scalar(v),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_values() {
        let hv = |v: Value| header_value(&v).map(|h| h.to_str().unwrap().to_string());
        assert_eq!(hv(json!("u-1")).as_deref(), Some("u-1"));
        assert_eq!(hv(json!(42)).as_deref(), Some("42"));
        assert_eq!(hv(json!(true)).as_deref(), Some("true"));
        assert_eq!(hv(json!(["a", 1])).as_deref(), Some("a,1"));
        assert_eq!(hv(json!({"a": 1})), None);
        assert_eq!(hv(json!(null)), None);
        assert_eq!(hv(json!([{"a": 1}])), None);
        assert_eq!(hv(json!("a\r\nx-admin: 1")), None);
        assert_eq!(hv(json!("Zoë")), None);
        assert_eq!(hv(json!(["a", "ü"])), None);
    }

    #[test]
    fn selects_subject_and_named_claims() {
        let all = json!({"sub": "u-1", "role": "admin", "exp": 1})
            .as_object()
            .unwrap()
            .clone();
        let names = ["role".to_string(), "tenant".to_string()];
        let c = JwtClaims::select(&all, &names);
        assert_eq!(c.subject.as_deref(), Some("u-1"));
        assert_eq!(c.claims.len(), 1);
        assert_eq!(c.claims["role"], json!("admin"));
    }
}
