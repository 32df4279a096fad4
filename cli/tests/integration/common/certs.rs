//! Self-signed certificate pairs for TLS tests, written as `DIR/NAME.crt` and `DIR/NAME.key`.

use std::path::Path;

/// Writes a pair for `names` (DNS names, wildcards or IPs), valid for `days` (negative:
/// already expired).
pub fn write_pair(dir: &Path, name: &str, names: &[&str], days: i64) {
    let (cert, key) = edgeproxy::tls::selfsigned::generate(names, days).expect("generate");
    std::fs::write(dir.join(format!("{name}.crt")), cert).expect("write cert");
    std::fs::write(dir.join(format!("{name}.key")), key).expect("write key");
}
