//! The PROXY protocol header sent to a stream's upstream first (nginx `proxy_protocol on`,
//! v1; v2 too), built with `ppp` (the crate that parses the ones we receive).

use std::net::SocketAddr;

use ppp::v2::{Builder, Command, Protocol, Version};

use crate::config::ProxyVersion;

/// The header telling the upstream that `client` connected to `local`.
pub fn header(version: ProxyVersion, client: SocketAddr, local: SocketAddr) -> Vec<u8> {
    match version {
        ProxyVersion::V1 => ppp::v1::Addresses::from((client, local))
            .to_string()
            .into_bytes(),
        ProxyVersion::V2 => {
            let b = Builder::with_addresses(
                Version::Two | Command::Proxy,
                Protocol::Stream,
                (client, local),
            );
            // Building only fails on writes to the Vec it owns: never (// ok: in memory).
            b.build().unwrap_or_default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_versions_parse_back() {
        let (c, l): (SocketAddr, SocketAddr) = (
            "192.0.2.1:5555".parse().unwrap(),
            "127.0.0.1:80".parse().unwrap(),
        );
        let v1 = header(ProxyVersion::V1, c, l);
        assert_eq!(v1, b"PROXY TCP4 192.0.2.1 127.0.0.1 5555 80\r\n");
        let v2 = header(ProxyVersion::V2, c, l);
        let parsed = ppp::v2::Header::try_from(&v2[..]).unwrap();
        assert_eq!(
            parsed.addresses,
            ppp::v2::Addresses::from((c, l)),
            "{parsed:?}"
        );
    }
}
