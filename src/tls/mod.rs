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
//! and 1.3 only, ECDHE + AEAD ciphers — with ALPN `h2` and `http/1.1` (or `http/1.1` only
//! when the listener has `http2 = false`).

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
    pub certificates: Vec<CertPaths>,
}

/// Pingora's TLS settings for a listener serving the pairs of `tls`.
pub fn settings(tls: Arc<ListenerTls>, http2: bool) -> pingora::Result<TlsSettings> {
    let mut s = TlsSettings::with_callbacks(Box::new(accept::SniAccept(tls)))?;
    // Mozilla intermediate already starts at 1.2; said again so it never depends on it.
    if let Err(e) = s.set_min_proto_version(Some(SslVersion::TLS1_2)) {
        tracing::warn!("cannot set the minimum TLS version: {e}");
    }
    s.set_alpn(if http2 { ALPN::H2H1 } else { ALPN::H1 });
    Ok(s)
}
