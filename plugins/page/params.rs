//! Request parameters of a page: declared, validated before any cache key or origin path is
//! built (a bad value is a 400, and nothing reaches Redis or the origin).

use super::error::PageError;
use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;

/// How one query parameter is validated.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamConfig {
    /// Regex the whole value must match (anchored for you). Default `[A-Za-z0-9_-]{1,64}`.
    pub pattern: Option<String>,
    /// Longest accepted value in bytes (default 64).
    #[serde(default = "default_max_len")]
    pub max_len: usize,
    /// A request without it gets 400 (default true).
    #[serde(default = "default_true")]
    pub required: bool,
}

fn default_max_len() -> usize {
    64
}

fn default_true() -> bool {
    true
}

/// A compiled parameter rule.
pub struct Param {
    name: String,
    regex: Regex,
    max_len: usize,
    required: bool,
}

/// Why a request's parameters were refused.
#[derive(Debug, PartialEq, Eq)]
pub struct BadParam(pub String);

impl Param {
    /// Compiles the rule for `name`.
    pub fn new(name: &str, cfg: ParamConfig) -> Result<Param, PageError> {
        let pattern = cfg
            .pattern
            .unwrap_or_else(|| "[A-Za-z0-9_-]{1,64}".to_string());
        let regex = Regex::new(&format!("^(?:{pattern})$"))
            .map_err(|e| PageError(format!("param `{name}`: invalid pattern: {e}")))?;
        Ok(Param {
            name: name.to_string(),
            regex,
            max_len: cfg.max_len,
            required: cfg.required,
        })
    }

    /// The parameter's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Extracts and validates every declared parameter from a query string.
pub fn extract(
    params: &[Param],
    query: Option<&str>,
) -> Result<BTreeMap<String, String>, BadParam> {
    let mut out = BTreeMap::new();
    // Only the declared parameters are decoded into owned strings.
    let mut given: Vec<Option<std::borrow::Cow<'_, str>>> = vec![None; params.len()];
    for (k, v) in query
        .map(|q| form_urlencoded::parse(q.as_bytes()))
        .into_iter()
        .flatten()
    {
        let Some(i) = params.iter().position(|p| p.name == k) else {
            continue;
        };
        if given[i].replace(v).is_some() {
            return Err(BadParam(format!(
                "parameter `{}` given more than once",
                params[i].name
            )));
        }
    }
    for (p, value) in params.iter().zip(given) {
        match value {
            None if p.required => {
                return Err(BadParam(format!("missing parameter `{}`", p.name)));
            }
            None => {}
            Some(v) => {
                if v.len() > p.max_len {
                    return Err(BadParam(format!("parameter `{}` is too long", p.name)));
                }
                if v.chars().any(char::is_control) || !p.regex.is_match(&v) {
                    return Err(BadParam(format!("invalid parameter `{}`", p.name)));
                }
                out.insert(p.name.clone(), v.into_owned());
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digits() -> Vec<Param> {
        let cfg = ParamConfig {
            pattern: Some("[0-9]+".into()),
            max_len: 12,
            required: true,
        };
        vec![Param::new("productId", cfg).unwrap()]
    }

    #[test]
    fn accepts_digits_only() {
        let v = extract(&digits(), Some("productId=42&x=1")).unwrap();
        assert_eq!(v["productId"], "42");
        for bad in [
            "productId=4a",
            "productId=",
            "productId=1%0D%0ASet-Cookie:x",
            "productId=..%2F..%2Fetc",
            "productId=1234567890123",
            "productId=1&productId=2",
            "other=1",
        ] {
            assert!(extract(&digits(), Some(bad)).is_err(), "{bad}");
        }
        assert!(extract(&digits(), None).is_err());
    }
}
