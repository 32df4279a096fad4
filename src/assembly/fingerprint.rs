//! Spec fingerprints: what decides whether a long-lived part of the previous configuration
//! generation is carried over. A part's fingerprint is its table in the config file as
//! data (keys and values; formatting, comments and key order don't matter) plus the
//! directory relative paths resolve against.

use std::path::Path;

/// The config document as data, to fingerprint its tables.
pub struct Fingerprints {
    doc: serde_json::Value,
    base: String,
}

impl Fingerprints {
    /// The fingerprints of config text `source` whose relative paths resolve against `base`.
    /// A text that does not parse (the reader already reported it) fingerprints as empty.
    pub fn of(source: &str, base: &Path) -> Self {
        Fingerprints {
            doc: toml_edit::de::from_str(source).unwrap_or(serde_json::Value::Null),
            base: base.display().to_string(),
        }
    }

    /// The fingerprint of the table at `path` (e.g. `["upstreams", "app"]`); a missing
    /// table has its own (`null`).
    pub fn table(&self, path: &[&str]) -> String {
        let mut v = &self.doc;
        for key in path {
            v = v.get(key).unwrap_or(&serde_json::Value::Null);
        }
        format!("{}|{}", canonical(v), self.base)
    }

    /// The fingerprint of one plugin's config value (text of a TOML value).
    pub fn value(&self, value: &toml_edit::Value) -> String {
        let doc: serde_json::Value =
            toml_edit::de::from_str(&format!("v = {value}")).unwrap_or(serde_json::Value::Null);
        format!("{}|{}", canonical(&doc), self.base)
    }
}

/// JSON text with object keys sorted, so key order never matters.
fn canonical(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let body: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::from(k.as_str()),
                        canonical(&m[k])
                    )
                })
                .collect();
            format!("{{{}}}", body.join(","))
        }
        serde_json::Value::Array(a) => {
            let body: Vec<String> = a.iter().map(canonical).collect();
            format!("[{}]", body.join(","))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatting_and_order_do_not_change_a_fingerprint_but_values_do() {
        let base = Path::new("/etc/edgeproxy");
        let a = Fingerprints::of("[upstreams.app]\nretries = 1 # one\nservers = []\n", base);
        let b = Fingerprints::of("[upstreams.app]\nservers=[]\n\n  retries=1\n", base);
        let c = Fingerprints::of("[upstreams.app]\nservers=[]\nretries=2\n", base);
        let key = ["upstreams", "app"];
        assert_eq!(a.table(&key), b.table(&key));
        assert_ne!(a.table(&key), c.table(&key));
        assert_ne!(
            a.table(&key),
            Fingerprints::of(
                "[upstreams.app]\nretries = 1\nservers = []\n",
                Path::new("/x")
            )
            .table(&key),
            "relative paths resolve elsewhere"
        );
    }
}
