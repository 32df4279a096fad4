//! `{param}` patterns for cache keys and origin paths, checked against declared parameters
//! when the plugin is built.

use super::error::PageError;
use std::collections::BTreeMap;

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

/// Characters left as they are in a substituted value (RFC 3986 unreserved).
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Lit(String),
    Param(String),
}

/// A parsed pattern such as `product_info_{productId}`.
#[derive(Debug, Clone)]
pub struct Pattern {
    parts: Vec<Part>,
}

impl Pattern {
    /// Parses `text`; every `{name}` must be one of `params`.
    pub fn parse(text: &str, params: &[String]) -> Result<Pattern, PageError> {
        Self::parse_inner(text, params).map_err(PageError)
    }

    fn parse_inner(text: &str, params: &[String]) -> Result<Pattern, String> {
        let mut parts = Vec::new();
        let mut rest = text;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_string()));
            }
            let after = &rest[open + 1..];
            let close = after
                .find('}')
                .ok_or_else(|| format!("unclosed `{{` in {text:?}"))?;
            let name = &after[..close];
            if !params.iter().any(|p| p == name) {
                return Err(format!(
                    "{text:?} uses `{{{name}}}`, which is not a declared parameter (declared: {})",
                    params.join(", ")
                ));
            }
            parts.push(Part::Param(name.to_string()));
            rest = &after[close + 1..];
        }
        if rest.contains('}') {
            return Err(format!("stray `}}` in {text:?}"));
        }
        if !rest.is_empty() {
            parts.push(Part::Lit(rest.to_string()));
        }
        Ok(Pattern { parts })
    }

    /// Whether every parameter the pattern uses has a value (so [`render`](Self::render)
    /// gives `Some`).
    pub fn renders_with(&self, values: &BTreeMap<String, String>) -> bool {
        self.parts.iter().all(|p| match p {
            Part::Lit(_) => true,
            Part::Param(name) => values.contains_key(name),
        })
    }

    /// Fills the pattern; `encode` percent-encodes values (for URL paths). `None` when a
    /// parameter has no value (an optional parameter that was not sent).
    pub fn render(&self, values: &BTreeMap<String, String>, encode: bool) -> Option<String> {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Param(name) => {
                    let v = values.get(name)?;
                    if encode {
                        out.extend(utf8_percent_encode(v, VALUE));
                    } else {
                        out.push_str(v);
                    }
                }
            }
        }
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_and_encodes() {
        let params = vec!["id".to_string()];
        let p = Pattern::parse("/get?id={id}", &params).unwrap();
        let v = BTreeMap::from([("id".to_string(), "a b/..".to_string())]);
        assert_eq!(p.render(&v, true).unwrap(), "/get?id=a%20b%2F..");
        assert_eq!(p.render(&BTreeMap::new(), true), None);
    }

    #[test]
    fn undeclared_or_broken_patterns_are_errors() {
        let params = vec!["id".to_string()];
        assert!(Pattern::parse("k_{other}", &params)
            .unwrap_err()
            .to_string()
            .contains("not a declared"));
        assert!(Pattern::parse("k_{id", &params).is_err());
        assert!(Pattern::parse("k_}", &params).is_err());
    }
}
