//! One certificate/key pair from PEM files: loaded, checked (key matches, not expired) and
//! described (the names it serves, from its SAN entries, and when it expires).

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openssl::asn1::Asn1Time;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::X509;

/// Paths of one pair, as configured (relative paths resolved against the config directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertPaths {
    /// The certificate chain (leaf first, then intermediates), PEM.
    pub cert: PathBuf,
    /// The private key of the leaf, PEM.
    pub key: PathBuf,
}

/// Why a pair cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file is not the PEM it should be.
    #[error("{path} holds no valid PEM {what}: {reason}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// "certificate" or "private key".
        what: &'static str,
        /// OpenSSL's reason.
        reason: String,
    },
    /// The key is not the certificate's.
    #[error("the key in {key} does not match the certificate in {cert}")]
    Mismatch {
        /// Certificate file.
        cert: PathBuf,
        /// Key file.
        key: PathBuf,
    },
    /// A listener entry without any pair.
    #[error("no certificates configured")]
    NoCertificates,
    /// The certificate's `notAfter` has passed.
    #[error("the certificate in {path} expired {ago} ago")]
    Expired {
        /// Certificate file.
        path: PathBuf,
        /// How long ago.
        ago: String,
    },
}

/// A loaded, checked pair.
pub struct CertPair {
    /// Where it came from.
    pub paths: CertPaths,
    /// The leaf certificate.
    pub leaf: X509,
    /// Intermediates sent after the leaf.
    pub chain: Vec<X509>,
    /// The leaf's private key.
    pub key: PKey<Private>,
    /// Lower-cased DNS names it serves (SAN entries; the subject CN when there are none);
    /// wildcards keep their `*.` prefix.
    pub names: Vec<String>,
    /// `notAfter`, as seconds since the Unix epoch.
    pub not_after: i64,
}

impl std::fmt::Debug for CertPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.debug_struct("CertPair")
            .field("cert", &self.paths.cert)
            .field("names", &self.names)
            .field("not_after", &self.not_after)
            .finish()
    }
}

impl CertPair {
    /// Reads and checks the pair at `paths`: both files parse, the key is the leaf's and the
    /// leaf has not expired.
    pub fn load(paths: &CertPaths) -> Result<CertPair, CertError> {
        let cert_pem = read(&paths.cert)?;
        let key_pem = read(&paths.key)?;
        let pem_err = |path: &Path, what, e: openssl::error::ErrorStack| CertError::Pem {
            path: path.to_path_buf(),
            what,
            reason: e.to_string(),
        };
        let mut certs = X509::stack_from_pem(&cert_pem)
            .map_err(|e| pem_err(&paths.cert, "certificate", e))?
            .into_iter();
        let Some(leaf) = certs.next() else {
            return Err(CertError::Pem {
                path: paths.cert.clone(),
                what: "certificate",
                reason: "no CERTIFICATE block".into(),
            });
        };
        let key = PKey::private_key_from_pem(&key_pem)
            .map_err(|e| pem_err(&paths.key, "private key", e))?;
        let matches = leaf.public_key().is_ok_and(|public| public.public_eq(&key));
        if !matches {
            return Err(CertError::Mismatch {
                cert: paths.cert.clone(),
                key: paths.key.clone(),
            });
        }
        let not_after = not_after_unix(&leaf);
        let left = not_after - now_unix();
        if left <= 0 {
            return Err(CertError::Expired {
                path: paths.cert.clone(),
                ago: humantime::format_duration(Duration::from_secs(left.unsigned_abs()))
                    .to_string(),
            });
        }
        Ok(CertPair {
            paths: paths.clone(),
            names: names_of(&leaf),
            chain: certs.collect(),
            leaf,
            key,
            not_after,
        })
    }

    /// Seconds until `notAfter` (negative once expired).
    pub fn expires_in(&self) -> i64 {
        self.not_after - now_unix()
    }
}

fn read(path: &Path) -> Result<Vec<u8>, CertError> {
    std::fs::read(path).map_err(|source| CertError::Read {
        path: path.to_path_buf(),
        source,
    })
}

/// The DNS names in the SAN extension, else the subject's common name; lower case.
fn names_of(cert: &X509) -> Vec<String> {
    let mut names: Vec<String> = cert
        .subject_alt_names()
        .map(|sans| {
            sans.iter()
                .filter_map(|n| n.dnsname().map(str::to_ascii_lowercase))
                .collect()
        })
        .unwrap_or_default();
    if names.is_empty() {
        names = cert
            .subject_name()
            .entries_by_nid(Nid::COMMONNAME)
            .filter_map(|e| e.data().to_string().ok().map(|s| s.to_ascii_lowercase()))
            .collect();
    }
    names
}

/// Seconds since the Unix epoch, now.
pub(crate) fn now_unix() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH);
    now.map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// `notAfter` in Unix seconds (the difference to the epoch as OpenSSL computes it).
fn not_after_unix(cert: &X509) -> i64 {
    let Ok(epoch) = Asn1Time::from_unix(0) else {
        return 0;
    };
    match epoch.diff(cert.not_after()) {
        Ok(d) => i64::from(d.days) * 86_400 + i64::from(d.secs),
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::testcert;

    #[test]
    fn loads_a_pair_and_reads_its_names_and_expiry() {
        let dir = tempfile::tempdir().expect("tempdir");
        let paths = testcert::write(dir.path(), "a", &["a.example.com", "*.a.example.com"], 30);
        let pair = CertPair::load(&paths).expect("valid pair");
        assert_eq!(pair.names, ["a.example.com", "*.a.example.com"]);
        let left = pair.expires_in();
        assert!(left > 29 * 86_400 && left <= 30 * 86_400, "{left}");
        let soon = testcert::write(dir.path(), "soon", &["soon.test"], 5);
        let left = CertPair::load(&soon).expect("valid pair").expires_in();
        assert!(left > 4 * 86_400 && left <= 5 * 86_400, "{left}");
    }

    #[test]
    fn refuses_a_key_of_another_certificate() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = testcert::write(dir.path(), "a", &["a.test"], 30);
        let b = testcert::write(dir.path(), "b", &["b.test"], 30);
        let mixed = CertPaths {
            cert: a.cert,
            key: b.key,
        };
        let err = CertPair::load(&mixed).expect_err("mismatch");
        assert!(matches!(err, CertError::Mismatch { .. }), "{err}");
    }

    #[test]
    fn refuses_an_expired_certificate_and_garbage() {
        let dir = tempfile::tempdir().expect("tempdir");
        let old = testcert::write(dir.path(), "old", &["old.test"], -1);
        let err = CertPair::load(&old).expect_err("expired");
        assert!(matches!(err, CertError::Expired { .. }), "{err}");
        std::fs::write(&old.cert, "not a pem").expect("write");
        let err = CertPair::load(&old).expect_err("garbage");
        assert!(matches!(err, CertError::Pem { .. }), "{err}");
        let missing = CertPaths {
            cert: dir.path().join("nope.pem"),
            key: old.key,
        };
        assert!(matches!(
            CertPair::load(&missing),
            Err(CertError::Read { .. })
        ));
    }
}
