//! The TLS handshake hook: hands OpenSSL the certificate for the client's SNI from the
//! listener's live store (Pingora calls it once per handshake, before the certificate is
//! sent).

use std::sync::Arc;

use async_trait::async_trait;
use pingora::listeners::TlsAccept;
use pingora::protocols::tls::TlsRef;
use pingora::tls::ext;
use pingora::tls::ssl::{NameType, SniError, SslAlert, SslRef};

use super::listener::ListenerTls;

/// Certificate selection for one listener.
pub struct SniAccept(pub Arc<ListenerTls>);

#[async_trait]
impl TlsAccept for SniAccept {
    async fn certificate_callback(&self, ssl: &mut TlsRef) {
        let store = self.0.store();
        let pair = store.select(ssl.servername(NameType::HOST_NAME));
        let mut result = ext::ssl_use_certificate(ssl, &pair.leaf)
            .and_then(|()| ext::ssl_use_private_key(ssl, &pair.key));
        for cert in &pair.chain {
            result = result.and_then(|()| ext::ssl_add_chain_cert(ssl, cert));
        }
        if let Err(e) = result {
            // The handshake then fails for this client only.
            tracing::error!(cert = %pair.paths.cert.display(), "cannot use certificate: {e}");
        }
    }
}

/// The servername callback: accepts every name (the certificate callback then picks the
/// pair, falling back to the default one), so that OpenSSL acknowledges the extension.
pub fn acknowledge_sni(_ssl: &mut SslRef, _alert: &mut SslAlert) -> Result<(), SniError> {
    Ok(())
}
