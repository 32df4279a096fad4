//! What a connection gets before HTTP starts, by the listener it came in on: the PROXY
//! protocol header (required on `proxy_protocol` listeners, read under the header timeout)
//! and prior-knowledge h2c (on plain `http2` listeners). TLS listeners read the PROXY header
//! before the handshake, through Pingora's pre-TLS hook ([`PreTlsGate`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::listeners::PreTlsProcess;
use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::protocols::l4::stream::Stream as L4Stream;
use pingora::protocols::{GetSocketDigest, IO};
use pingora::{Error, ErrorType};

use super::proxy_protocol::{peer_ip, read_header, set_peer, ProxyHeaderError};

/// Which peers may tell the client's address (nginx `set_real_ip_from`).
pub type Trusted = Arc<dyn Fn(IpAddr) -> bool + Send + Sync>;

/// The per-listener roles of one server block's connections.
#[derive(Clone)]
pub struct Gate {
    /// Listeners that accept prior-knowledge h2c.
    pub h2c: Vec<SocketAddr>,
    /// Listeners that require a PROXY protocol header.
    pub proxy_protocol: Vec<SocketAddr>,
    /// Peers whose PROXY header address is used.
    pub trusted: Trusted,
    /// Time for the PROXY header (the block's `client_header_timeout`).
    pub timeout: Duration,
}

/// True when `local` (a connection's local address) came in on one of `listeners` (bound
/// to that address, or to the unspecified address on that port).
pub fn on(listeners: &[SocketAddr], local: Option<SocketAddr>) -> bool {
    let Some(local) = local else { return false };
    listeners
        .iter()
        .any(|l| l.port() == local.port() && (l.ip() == local.ip() || l.ip().is_unspecified()))
}

/// The local address of a connection.
pub fn local_addr<S: GetSocketDigest + ?Sized>(stream: &S) -> Option<SocketAddr> {
    match stream.get_socket_digest()?.local_addr()? {
        PeerAddr::Inet(a) => Some(*a),
        _ => None,
    }
}

impl Gate {
    /// Reads the PROXY header when the connection's listener requires one, and makes its
    /// address the peer's when the peer is trusted. An error closes the connection.
    pub async fn proxy_header<S>(&self, stream: &mut S) -> Result<(), ProxyHeaderError>
    where
        S: IO + ?Sized + Unpin,
    {
        if !on(&self.proxy_protocol, local_addr(stream)) {
            return Ok(());
        }
        let header = tokio::time::timeout(self.timeout, read_header(stream)).await;
        let client = header.map_err(|_| {
            ProxyHeaderError::Io(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no PROXY header in time",
            ))
        })??;
        let peer = peer_ip(stream);
        match (client, peer) {
            (Some(client), Some(peer)) if (self.trusted)(peer) => set_peer(stream, client),
            (Some(client), peer) => {
                tracing::debug!(?peer, %client, "PROXY header from an untrusted peer ignored")
            }
            (None, _) => {}
        }
        Ok(())
    }
}

/// The PROXY header on TLS listeners, read before the handshake.
pub struct PreTlsGate(pub Gate);

#[async_trait]
impl PreTlsProcess for PreTlsGate {
    async fn process(&self, stream: &mut L4Stream) -> pingora::Result<()> {
        self.0.proxy_header(stream).await.map_err(|e| {
            tracing::info!("connection closed: {e}");
            Error::explain(ErrorType::ConnectError, e.to_string())
        })
    }
}
