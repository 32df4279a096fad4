//! TLS on listeners: certificates chosen by SNI ([`sni`]), reloaded live when their files
//! change ([`listener`], [`reload`]), checked by `edgeproxy -t` ([`certs`]).
//!
//! Backend: Pingora's `openssl` feature, linked against the system's libssl (Debian's
//! OpenSSL 3, the library nginx uses; `.cargo/config.toml` sets `OPENSSL_NO_VENDOR`). Its
//! asynchronous certificate callback lets each handshake take the current pair from an
//! `ArcSwap`, which is all live reload needs; the `openssl` crate reads `notAfter`, SAN
//! names and checks that a key matches its certificate. Why not `rustls`: see
//! docs/edge.md ("TLS backend").
//!
//! Policy: Mozilla's "intermediate" configuration (v5) that Pingora starts from — TLS 1.2
//! and 1.3 only, AEAD ciphers with ECDHE (and DHE-RSA, from the same list) — with ALPN `h2`
//! and `http/1.1` (or `http/1.1` only when the listener has `http2 = false`); SNI
//! acknowledged ([`accept::acknowledge_sni`]).

pub mod accept;
pub mod certs;
pub mod listener;
pub mod reload;
pub mod selfsigned;
pub mod sni;
#[cfg(test)]
pub mod testcert;

use std::sync::Arc;

use pingora::listeners::tls::TlsSettings;
use pingora::listeners::ALPN;
use pingora::tls::ssl::SslVersion;

pub use certs::{CertError, CertPair, CertPaths};
pub use listener::ListenerTls;

/// A certificate that expires sooner than this is a warning in `edgeproxy -t` and at start.
pub const EXPIRY_WARNING_SECS: i64 = 14 * 86_400;

/// The TLS settings of one listener entry, as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSpec {
    /// Certificate/key pairs; the first is the default (no SNI, or a name none serves).
    pub certificates: Vec<CertEntry>,
}

/// One configured pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertEntry {
    /// Its files.
    pub paths: CertPaths,
    /// Generate a self-signed pair for `localhost` and `127.0.0.1` when both files are
    /// missing (demos and the quickstart; never trusted by clients without `-k`).
    pub self_signed: bool,
}

/// Why a self-signed pair could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SelfSignedError {
    /// OpenSSL failed to make the pair.
    #[error("cannot generate a self-signed certificate: {0}")]
    Generate(String),
    /// A directory or file could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The directory or file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Writes a self-signed pair at `paths` when `entry` asks for one and neither file exists.
pub fn ensure_self_signed(entry: &CertEntry, paths: &CertPaths) -> Result<bool, SelfSignedError> {
    if !entry.self_signed || paths.cert.exists() || paths.key.exists() {
        return Ok(false);
    }
    let (cert, key) = selfsigned::generate(&["localhost", "127.0.0.1"], 365)
        .map_err(|e| SelfSignedError::Generate(e.to_string()))?;
    if let Some(dir) = paths.cert.parent() {
        std::fs::create_dir_all(dir).map_err(|e| SelfSignedError::Write {
            path: dir.to_path_buf(),
            source: e,
        })?;
    }
    let write = |path: &std::path::Path, bytes: &[u8], mode: u32| {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path)
            .and_then(|mut f| f.write_all(bytes))
            .map_err(|e| SelfSignedError::Write {
                path: path.to_path_buf(),
                source: e,
            })
    };
    write(&paths.key, &key, 0o600)?;
    write(&paths.cert, &cert, 0o644)?;
    Ok(true)
}

/// Pingora's TLS settings for a listener serving the pairs of `tls`.
pub fn settings(tls: Arc<ListenerTls>, http2: bool) -> pingora::Result<TlsSettings> {
    let mut s = TlsSettings::with_callbacks(Box::new(accept::SniAccept(tls)))?;
    // Acknowledge SNI in the ServerHello (TLS 1.2) / EncryptedExtensions (1.3), RFC 6066 §3,
    // as nginx does. OpenSSL sends the acknowledgement only when a servername callback
    // returns OK; without one (Pingora sets none: the certificate is chosen later, in
    // `accept::SniAccept`) the name was used but never acknowledged.
    s.set_servername_callback(accept::acknowledge_sni);
    // Mozilla intermediate already starts at 1.2; said again so it never depends on it.
    if let Err(e) = s.set_min_proto_version(Some(SslVersion::TLS1_2)) {
        tracing::warn!("cannot set the minimum TLS version: {e}");
    }
    s.set_alpn(if http2 { ALPN::H2H1 } else { ALPN::H1 });
    Ok(s)
}
