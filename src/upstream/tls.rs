//! TLS to a group's servers (nginx `proxy_ssl_*`): on per group, SNI, certificate
//! verification (on by default) against the system's CAs or a CA file.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::Arc;

use openssl::x509::X509;

/// How a group talks TLS to its servers.
#[derive(Debug, Clone)]
pub struct UpstreamTls {
    /// Server name sent (and verified); `None`: the request's `Host`.
    pub sni: Option<String>,
    /// Verify the server's certificate chain and name (nginx `proxy_ssl_verify`).
    pub verify: bool,
    /// CA file (PEM), relative to the config directory; `None`: the system's CAs.
    pub ca_file: Option<PathBuf>,
    /// Where `ca_file` is written (for the error when it cannot be loaded).
    pub ca_span: Option<Range<usize>>,
    /// The loaded CA certificates (set when the group is assembled).
    pub ca: Option<Arc<Box<[X509]>>>,
    /// Keeps the group's pooled upstream connections its own (Pingora's `group_key`; its
    /// pool key covers address and TLS options but not the CA), set by [`Self::for_group`].
    pub pool_key: u64,
}

impl UpstreamTls {
    /// TLS with verification against the system's CAs and the request's `Host` as SNI.
    pub fn new() -> Self {
        UpstreamTls {
            sni: None,
            verify: true,
            ca_file: None,
            ca_span: None,
            ca: None,
            pool_key: 0,
        }
    }

    /// Ready for group `group`: `ca_file` loaded (resolved against `base`) and the pool key
    /// derived from the group's name, once, at assembly.
    pub fn for_group(&mut self, group: &str, base: &std::path::Path) -> Result<(), CaError> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        group.hash(&mut h);
        self.pool_key = h.finish();
        self.load_ca(base)
    }

    /// Loads `ca_file` (resolved against `base`) into `ca`.
    fn load_ca(&mut self, base: &std::path::Path) -> Result<(), CaError> {
        let Some(file) = &self.ca_file else {
            return Ok(());
        };
        let path = base.join(file);
        let pem = std::fs::read(&path).map_err(|source| CaError::Read {
            path: path.clone(),
            source,
        })?;
        let certs = X509::stack_from_pem(&pem).map_err(|source| CaError::Pem {
            path: path.clone(),
            source,
        })?;
        if certs.is_empty() {
            return Err(CaError::Empty(path));
        }
        self.ca = Some(Arc::new(certs.into_boxed_slice()));
        Ok(())
    }
}

/// Why a group's `ca_file` cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// It is not PEM.
    #[error("{} holds no valid PEM certificate: {source}", path.display())]
    Pem {
        /// The file.
        path: std::path::PathBuf,
        /// OpenSSL's error.
        source: openssl::error::ErrorStack,
    },
    /// It holds no certificate.
    #[error("{} holds no certificate", .0.display())]
    Empty(std::path::PathBuf),
}

impl Default for UpstreamTls {
    fn default() -> Self {
        Self::new()
    }
}
