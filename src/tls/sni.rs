//! Choosing a listener's certificate by the client's SNI: an exact name first, then a
//! wildcard covering one label (`*.example.com` serves `a.example.com`, not
//! `a.b.example.com` nor `example.com`, as browsers match), else the default — the first
//! configured pair — for no SNI or an unknown name.

use std::collections::HashMap;
use std::sync::Arc;

use super::certs::CertPair;

/// The pairs of one listener, indexed by the names they serve.
#[derive(Debug)]
pub struct CertStore {
    exact: HashMap<String, Arc<CertPair>>,
    /// Keyed by what follows `*.`.
    wildcard: HashMap<String, Arc<CertPair>>,
    default: Arc<CertPair>,
}

impl CertStore {
    /// A store of `pairs` (in configured order; the first is the default). `None` when
    /// `pairs` is empty. When two pairs serve one name, the first configured wins.
    pub fn new(pairs: &[Arc<CertPair>]) -> Option<CertStore> {
        let default = pairs.first()?.clone();
        let mut exact = HashMap::new();
        let mut wildcard = HashMap::new();
        for pair in pairs {
            for name in &pair.names {
                let (map, key) = match name.strip_prefix("*.") {
                    Some(rest) => (&mut wildcard, rest),
                    None => (&mut exact, name.as_str()),
                };
                map.entry(key.to_string()).or_insert_with(|| pair.clone());
            }
        }
        Some(CertStore {
            exact,
            wildcard,
            default,
        })
    }

    /// The pair for `sni` (as sent: any case, maybe with a trailing dot).
    pub fn select(&self, sni: Option<&str>) -> &Arc<CertPair> {
        let Some(sni) = sni else {
            return &self.default;
        };
        let name = sni.trim_end_matches('.').to_ascii_lowercase();
        if let Some(pair) = self.exact.get(&name) {
            return pair;
        }
        let parent = name.split_once('.').map(|(_, rest)| rest);
        parent
            .and_then(|p| self.wildcard.get(p))
            .unwrap_or(&self.default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testcert;

    #[test]
    fn exact_then_wildcard_then_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let load = |name, names: &[&str]| {
            let paths = testcert::write(dir.path(), name, names, 30);
            Arc::new(CertPair::load(&paths).expect("pair"))
        };
        let default = load("default", &["default.test"]);
        let wild = load("wild", &["*.example.com"]);
        let exact = load("exact", &["shop.example.com", "example.com"]);
        let store = CertStore::new(&[default, wild, exact]).expect("store");
        let pick = |sni| {
            store
                .select(sni)
                .paths
                .cert
                .file_name()
                .map(|f| f.to_owned())
        };
        let is = |sni, file: &str| assert_eq!(pick(sni).as_deref(), Some(file.as_ref()), "{sni:?}");
        is(Some("shop.example.com"), "exact.crt");
        is(Some("SHOP.Example.COM."), "exact.crt");
        is(Some("example.com"), "exact.crt");
        is(Some("a.example.com"), "wild.crt");
        is(Some("a.b.example.com"), "default.crt");
        is(Some("unknown.test"), "default.crt");
        is(None, "default.crt");
        assert!(CertStore::new(&[]).is_none());
    }
}
