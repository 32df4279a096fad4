//! The PROXY protocol (HAProxy's spec, v1 text and v2 binary) on listeners with
//! `proxy_protocol = true`: a load balancer (HAProxy, LVS, AWS NLB) sends the client's
//! address before anything else. As nginx's `listen ... proxy_protocol`, the header is
//! required there (a connection without one is closed); the address it carries replaces
//! the connection's peer address — which every log line, `$remote_addr`, forwarding header
//! and plugin then sees — only when the peer (the balancer) is trusted.
//!
//! Parsing is the `ppp` crate's; this module only frames the header off the stream without
//! reading past it (v1: up to its CRLF, at most 107 bytes; v2: 16 bytes, then the length
//! they announce).

use std::net::{IpAddr, SocketAddr};

use pingora::protocols::l4::socket::SocketAddr as PeerAddr;
use pingora::protocols::GetSocketDigest;
use pingora::protocols::SocketDigest;
use tokio::io::{AsyncRead, AsyncReadExt};

const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
/// Longest v1 header (the spec's bound, CRLF included).
const V1_MAX: usize = 107;
/// Longest v2 header accepted (addresses plus TLVs; HAProxy sends well under this).
const V2_MAX: usize = 16 + 512;

/// Why a connection was closed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyHeaderError {
    /// Reading failed or the peer closed.
    #[error("reading the PROXY header: {0}")]
    Io(#[from] std::io::Error),
    /// Not a PROXY protocol header.
    #[error("no valid PROXY protocol header: {0}")]
    Invalid(String),
}

/// Reads the PROXY header at the start of `stream`. `Ok(Some(addr))` is the client address
/// it carries; `Ok(None)` a header without one (v2 `LOCAL`, v1 `UNKNOWN`, UNIX sockets):
/// the connection keeps its peer address.
pub async fn read_header<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    if &head == V2_SIGNATURE {
        let mut rest = [0u8; 4];
        stream.read_exact(&mut rest).await?;
        let len = usize::from(u16::from_be_bytes([rest[2], rest[3]]));
        if 16 + len > V2_MAX {
            return Err(ProxyHeaderError::Invalid(format!(
                "v2 header of {len} bytes"
            )));
        }
        let mut buf = Vec::with_capacity(16 + len);
        buf.extend_from_slice(&head);
        buf.extend_from_slice(&rest);
        buf.resize(16 + len, 0);
        stream.read_exact(&mut buf[16..]).await?;
        return v2_source(&buf);
    }
    if !head.starts_with(b"PROXY ") {
        return Err(ProxyHeaderError::Invalid("neither v1 nor v2".into()));
    }
    let mut buf = head.to_vec();
    while !buf.ends_with(b"\r\n") {
        if buf.len() >= V1_MAX {
            return Err(ProxyHeaderError::Invalid("v1 header without CRLF".into()));
        }
        buf.push(stream.read_u8().await?);
    }
    v1_source(&buf)
}

fn v1_source(buf: &[u8]) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    use ppp::v1::{Addresses, Header};
    let header = Header::try_from(buf).map_err(|e| ProxyHeaderError::Invalid(e.to_string()))?;
    Ok(match header.addresses {
        Addresses::Tcp4(a) => Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port)),
        Addresses::Tcp6(a) => Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port)),
        Addresses::Unknown => None,
    })
}

fn v2_source(buf: &[u8]) -> Result<Option<SocketAddr>, ProxyHeaderError> {
    use ppp::v2::{Addresses, Command, Header};
    let header = Header::try_from(buf).map_err(|e| ProxyHeaderError::Invalid(e.to_string()))?;
    if header.command == Command::Local {
        return Ok(None);
    }
    Ok(match header.addresses {
        Addresses::IPv4(a) => Some(SocketAddr::new(IpAddr::V4(a.source_address), a.source_port)),
        Addresses::IPv6(a) => Some(SocketAddr::new(IpAddr::V6(a.source_address), a.source_port)),
        Addresses::Unspecified | Addresses::Unix(_) => None,
    })
}

/// The connection's TCP peer (the balancer, before [`set_peer`]).
pub fn peer_ip<S: GetSocketDigest + ?Sized>(stream: &S) -> Option<IpAddr> {
    let digest = stream.get_socket_digest()?;
    match digest.peer_addr()? {
        PeerAddr::Inet(a) => Some(a.ip()),
        _ => None,
    }
}

/// Makes `client` the connection's peer address (what `Session::client_addr` returns).
pub fn set_peer<S: GetSocketDigest + pingora::protocols::UniqueID + ?Sized>(
    stream: &mut S,
    client: SocketAddr,
) {
    let old = stream.get_socket_digest();
    let digest = SocketDigest::from_raw_fd(stream.id());
    let _ = digest.peer_addr.set(Some(PeerAddr::Inet(client)));
    if let Some(local) = old.as_ref().and_then(|d| d.local_addr().cloned()) {
        let _ = digest.local_addr.set(Some(local));
    }
    stream.set_socket_digest(digest);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_sources() {
        let v1 = v1_source(b"PROXY TCP4 203.0.113.7 10.0.0.1 51000 80\r\n").expect("v1");
        assert_eq!(v1, Some("203.0.113.7:51000".parse().expect("addr")));
        let v6 = v1_source(b"PROXY TCP6 2001:db8::1 2001:db8::2 4000 443\r\n").expect("v1");
        assert_eq!(v6, Some("[2001:db8::1]:4000".parse().expect("addr")));
        assert_eq!(v1_source(b"PROXY UNKNOWN\r\n").expect("unknown"), None);
        assert!(v1_source(b"PROXY TCP4 999.0.0.1 10.0.0.1 1 2\r\n").is_err());
        let mut v2 = V2_SIGNATURE.to_vec();
        v2.extend_from_slice(&[
            0x21, 0x11, 0, 12, 198, 51, 100, 9, 10, 0, 0, 1, 0x1f, 0x90, 0, 80,
        ]);
        assert_eq!(
            v2_source(&v2).expect("v2"),
            Some("198.51.100.9:8080".parse().expect("addr"))
        );
        v2[12] = 0x20; // LOCAL: health checks of the balancer itself
        assert_eq!(v2_source(&v2).expect("local"), None);
    }
}
