//! Test helper: a self-signed pair written to `dir/NAME.crt` and `dir/NAME.key`.

use std::path::Path;

use super::certs::CertPaths;

/// Writes a pair for `names`, valid for `days` (negative: expired), and returns its paths.
pub fn write(dir: &Path, name: &str, names: &[&str], days: i64) -> CertPaths {
    let (cert, key) = super::selfsigned::generate(names, days).expect("generate"); // ok: test helper
    let paths = CertPaths {
        cert: dir.join(format!("{name}.crt")),
        key: dir.join(format!("{name}.key")),
    };
    std::fs::write(&paths.cert, cert).expect("write cert"); // ok: test helper
    std::fs::write(&paths.key, key).expect("write key"); // ok: test helper
    paths
}
