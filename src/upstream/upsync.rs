//! nginx-upsync-module conventions: KV keys `<prefix><ip>:<port>` whose base64 value is JSON
//! `{"weight":1,"max_fails":2,"fail_timeout":10,"down":0,"backup":0}` (empty = defaults).

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use super::spec::ServerSpec;

/// Defaults of nginx-upsync-module for a node with an empty value.
pub const DEFAULT_WEIGHT: u32 = 1;
/// Default `max_fails`.
pub const DEFAULT_MAX_FAILS: u32 = 2;
/// Default `fail_timeout`.
pub const DEFAULT_FAIL_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a node description (a Consul KV entry or a dump-file line) was skipped.
#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    /// The key (or first word) is not an IP literal with a port.
    #[error("`{0}` is not `<ip>:<port>` (host names are not resolved)")]
    Address(String),
    /// The Consul value is not base64.
    #[error("value is not valid base64")]
    Base64,
    /// The decoded value is not JSON.
    #[error("value is not JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// The JSON value is not an object.
    #[error("value is not a JSON object")]
    NotObject,
    /// An attribute has a value of the wrong kind.
    #[error("`{key}` must be a non-negative integer, got {value}")]
    Attribute {
        /// The attribute.
        key: String,
        /// What was written.
        value: String,
    },
    /// A dump-file line that is not `server <ip>:<port> [name=value ...];`.
    #[error("{0}")]
    Syntax(String),
}

/// One entry of a Consul `GET /v1/kv/<prefix>?recurse` answer.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KvEntry {
    /// Full key.
    pub key: String,
    /// Base64 value; `null` for an empty value.
    #[serde(default)]
    pub value: Option<String>,
    /// Index of the last change of this key.
    #[serde(default)]
    pub modify_index: u64,
}

/// Turns KV entries into a sorted member list. The folder key itself and keys below
/// sub-folders are ignored; a bad key or value is logged and skips that node only.
pub fn parse_nodes(group: &str, prefix: &str, entries: &[KvEntry]) -> Vec<ServerSpec> {
    let mut out: Vec<ServerSpec> = Vec::with_capacity(entries.len());
    for e in entries {
        let Some(name) = e.key.strip_prefix(prefix) else {
            continue;
        };
        if name.is_empty() || name.contains('/') {
            continue;
        }
        match parse_node(name, e.value.as_deref()) {
            Ok(s) if out.iter().any(|o| o.addr == s.addr) => {
                tracing::warn!(group, key = %e.key, "duplicate upstream address in Consul, skipped");
            }
            Ok(s) => out.push(s),
            Err(err) => tracing::warn!(group, key = %e.key, "skipping Consul node: {err}"),
        }
    }
    out.sort_by_key(|s| s.addr);
    out
}

/// A member with the upsync defaults (what an empty KV value means).
pub fn default_server(addr: SocketAddr) -> ServerSpec {
    ServerSpec {
        weight: DEFAULT_WEIGHT,
        max_fails: DEFAULT_MAX_FAILS,
        fail_timeout: DEFAULT_FAIL_TIMEOUT,
        ..ServerSpec::new(addr)
    }
}

/// Parses one node: `name` is `<ip>:<port>`, `value` the base64 value.
pub fn parse_node(name: &str, value: Option<&str>) -> Result<ServerSpec, NodeError> {
    let addr: SocketAddr = name
        .parse()
        .map_err(|_| NodeError::Address(name.to_string()))?;
    let mut s = default_server(addr);
    let raw = base64_decode(value.unwrap_or_default().trim()).ok_or(NodeError::Base64)?;
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Ok(s);
    }
    let json: Value = serde_json::from_slice(&raw)?;
    let Value::Object(obj) = json else {
        return Err(NodeError::NotObject);
    };
    for (k, v) in &obj {
        match k.as_str() {
            "weight" => s.weight = uint(k, v)?,
            "max_fails" => s.max_fails = uint(k, v)?,
            "fail_timeout" => s.fail_timeout = duration(v)?,
            "down" => s.down = flag(k, v)?,
            "backup" => s.backup = flag(k, v)?,
            _ => {} // upsync ignores other attributes (e.g. max_conns)
        }
    }
    if s.weight == 0 {
        tracing::warn!(node = name, "weight 0: the node will not be selected");
    }
    Ok(s)
}

fn uint(k: &str, v: &Value) -> Result<u32, NodeError> {
    let n = match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| NodeError::Attribute {
            key: k.to_string(),
            value: v.to_string(),
        })
}

fn flag(k: &str, v: &Value) -> Result<bool, NodeError> {
    match v {
        Value::Bool(b) => Ok(*b),
        _ => uint(k, v).map(|n| n != 0),
    }
}

fn duration(v: &Value) -> Result<Duration, NodeError> {
    if let Value::String(s) = v {
        if let Ok(d) = humantime::parse_duration(s.trim()) {
            return Ok(d);
        }
    }
    uint("fail_timeout", v).map(|n| Duration::from_secs(n.into()))
}

/// Standard base64 as Consul sends it (padding optional); `None` on invalid input.
pub fn base64_decode(s: &str) -> Option<Vec<u8>> {
    use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
    use base64::engine::DecodePaddingMode;
    const STANDARD_ANY_PAD: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    base64::Engine::decode(&STANDARD_ANY_PAD, s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, s)
    }

    #[test]
    fn base64_round_trip() {
        for s in ["", "a", "ab", "abc", "abcd", "{\"weight\":2}"] {
            assert_eq!(base64_decode(&b64(s)).unwrap(), s.as_bytes(), "{s}");
        }
        assert_eq!(base64_decode("a"), None);
        assert_eq!(base64_decode("a*=="), None);
    }

    #[test]
    fn values_and_defaults() {
        let v = b64(r#"{"weight":3,"max_fails":0,"fail_timeout":5,"down":1,"backup":"1"}"#);
        let s = parse_node("10.0.0.1:80", Some(&v)).unwrap();
        assert_eq!(
            (s.weight, s.max_fails, s.down, s.backup),
            (3, 0, true, true)
        );
        assert_eq!(s.fail_timeout, Duration::from_secs(5));
        let d = parse_node("[::1]:8080", None).unwrap();
        assert_eq!((d.weight, d.max_fails, d.down), (1, 2, false));
        assert_eq!(d.fail_timeout, DEFAULT_FAIL_TIMEOUT);
        let s = parse_node("10.0.0.1:80", Some(&b64(r#"{"fail_timeout":"3s"}"#))).unwrap();
        assert_eq!(s.fail_timeout, Duration::from_secs(3));
        for bad in [r#"{"weight":-1}"#, "not json", "[1]", r#"{"down":"x"}"#] {
            assert!(parse_node("10.0.0.1:80", Some(&b64(bad))).is_err(), "{bad}");
        }
        assert!(parse_node("example.com:80", None).is_err());
    }

    #[test]
    fn nodes_skip_folder_subkeys_and_bad_values() {
        let e = |k: &str, v: Option<String>| KvEntry {
            key: k.into(),
            value: v,
            modify_index: 1,
        };
        let entries = vec![
            e("up/g/", None),
            e("up/g/10.0.0.2:80", Some(b64(r#"{"weight":2}"#))),
            e("up/g/10.0.0.1:80", None),
            e("up/g/10.0.0.3:80", Some(b64("{bad"))),
            e("up/g/sub/10.0.0.4:80", None),
        ];
        let nodes = parse_nodes("g", "up/g/", &entries);
        let addrs: Vec<String> = nodes.iter().map(|n| n.addr.to_string()).collect();
        assert_eq!(addrs, ["10.0.0.1:80", "10.0.0.2:80"]);
        assert_eq!(nodes[1].weight, 2);
    }
}
