//! Networks in CIDR notation and their lookup table, shared by everything that matches a
//! client address against a list: the `ip-restriction` plugin and the server block's
//! trusted proxies (`real_ip.from`, nginx `set_real_ip_from`).
//!
//! One entry is an IPv4 or IPv6 network in CIDR notation (`ipnet`), a bare address (a /32
//! or /128), or `all` (every IPv4 and IPv6 address, nginx's `deny all`).
//!
//! An IPv6 rule inside `::ffff:0:0/96` (IPv4-mapped) is stored as the IPv4 rule it means,
//! and an IPv4-mapped client address is looked up as IPv4 (see [`client_key`]), so
//! `10.0.0.0/8` matches a client seen as `::ffff:10.1.2.3` on a dual-stack listener.
//! Host bits set below the prefix (`10.0.0.1/8`) are refused: nginx only warns ("low
//! address bits are meaningless"), but such a rule is almost always a typo.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::de::{self, Deserializer};
use serde::Deserialize;

mod table;

pub use table::Table;

/// One network of a list, already split by address family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cidr {
    /// An IPv4 network (IPv4-mapped IPv6 rules included).
    V4(Ipv4Net),
    /// An IPv6 network outside `::ffff:0:0/96`.
    V6(Ipv6Net),
    /// Every address of both families.
    All,
}

/// Why a list entry is not a network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    /// Neither an address nor `address/prefix`.
    #[error("invalid CIDR `{0}`: expected an IPv4/IPv6 address, `address/prefix` or `all`")]
    Syntax(String),
    /// The address has bits set below the prefix length.
    #[error("invalid CIDR `{given}`: host bits are set below the prefix (did you mean `{net}`?)")]
    HostBits {
        /// The entry as written.
        given: String,
        /// The network it would be with those bits cleared.
        net: IpNet,
    },
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(s: &str) -> Result<Cidr, CidrError> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("all") {
            return Ok(Cidr::All);
        }
        let net = match s.parse::<IpNet>() {
            Ok(net) => net,
            Err(_) => match s.parse::<IpAddr>() {
                Ok(ip) => IpNet::from(ip),
                Err(_) => return Err(CidrError::Syntax(s.to_string())),
            },
        };
        if net.trunc() != net {
            return Err(CidrError::HostBits {
                given: s.to_string(),
                net: net.trunc(),
            });
        }
        Ok(match net {
            IpNet::V4(v4) => Cidr::V4(v4),
            IpNet::V6(v6) => mapped_v4(v6).map_or(Cidr::V6(v6), Cidr::V4),
        })
    }
}

/// The IPv4 network an IPv6 network inside `::ffff:0:0/96` stands for.
fn mapped_v4(net: Ipv6Net) -> Option<Ipv4Net> {
    let v4 = net.addr().to_ipv4_mapped()?;
    let len = net.prefix_len().checked_sub(96)?;
    Ipv4Net::new(v4, len).ok()
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cidr::V4(n) => n.fmt(f),
            Cidr::V6(n) => n.fmt(f),
            Cidr::All => f.write_str("all"),
        }
    }
}

impl<'de> Deserialize<'de> for Cidr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_str(CidrVisitor)
    }
}

/// Parses inside the visitor, so the config reader puts the error at this entry (not at
/// the list around it).
struct CidrVisitor;

impl de::Visitor<'_> for CidrVisitor {
    type Value = Cidr;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a network such as \"10.0.0.0/8\", an address or \"all\"")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cidr, E> {
        v.parse().map_err(E::custom)
    }
}

/// A client address as the lists look it up: IPv4, or IPv6 that is not IPv4-mapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientKey {
    /// An IPv4 client (or an IPv4-mapped IPv6 one).
    V4(u32),
    /// Any other IPv6 client.
    V6(u128),
}

/// The lookup key of `ip` (IPv4-mapped IPv6 addresses become IPv4).
pub fn client_key(ip: IpAddr) -> ClientKey {
    match ip {
        IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => ClientKey::V4(u32::from(v4)),
            None => ClientKey::V6(u128::from(v6)),
        },
    }
}

/// The first and last address of an IPv4 network, as integers.
pub fn v4_range(n: Ipv4Net) -> (u32, u32) {
    (u32::from(n.network()), u32::from(n.broadcast()))
}

/// The first and last address of an IPv6 network, as integers.
pub fn v6_range(n: Ipv6Net) -> (u128, u128) {
    (u128::from(n.network()), u128::from(n.broadcast()))
}

/// The whole IPv4 space.
pub const ALL_V4: (u32, u32) = (0, u32::MAX);
/// The whole IPv6 space.
pub const ALL_V6: (u128, u128) = (0, u128::MAX);

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<Cidr, CidrError> {
        s.parse()
    }

    #[test]
    fn parses_networks_addresses_and_all() {
        assert_eq!(p("10.0.0.0/8"), Ok(Cidr::V4("10.0.0.0/8".parse().unwrap())));
        assert_eq!(
            p(" 192.0.2.7 "),
            Ok(Cidr::V4("192.0.2.7/32".parse().unwrap()))
        );
        assert_eq!(
            p("2001:db8::/32"),
            Ok(Cidr::V6("2001:db8::/32".parse().unwrap()))
        );
        assert_eq!(p("::1"), Ok(Cidr::V6("::1/128".parse().unwrap())));
        assert_eq!(p("ALL"), Ok(Cidr::All));
        assert_eq!(p("0.0.0.0/0"), Ok(Cidr::V4("0.0.0.0/0".parse().unwrap())));
    }

    #[test]
    fn ipv4_mapped_rules_become_ipv4() {
        assert_eq!(
            p("::ffff:10.0.0.0/104"),
            Ok(Cidr::V4("10.0.0.0/8".parse().unwrap()))
        );
        assert_eq!(
            p("::ffff:192.0.2.1"),
            Ok(Cidr::V4("192.0.2.1/32".parse().unwrap()))
        );
        // Wider than the mapped block: stays IPv6 (does not cover IPv4 clients).
        assert!(matches!(p("::/0"), Ok(Cidr::V6(_))));
    }

    #[test]
    fn refuses_garbage_and_host_bits() {
        for bad in [
            "",
            "10.0.0.300/8",
            "10.0.0.0/33",
            "10.0.0.0/",
            "fe80::/129",
            "host",
            "10/8",
        ] {
            assert!(matches!(p(bad), Err(CidrError::Syntax(_))), "{bad:?}");
        }
        let e = p("10.0.0.1/8").unwrap_err();
        assert!(e.to_string().contains("did you mean `10.0.0.0/8`"), "{e}");
        assert!(matches!(
            p("2001:db8::1/32"),
            Err(CidrError::HostBits { .. })
        ));
    }

    #[test]
    fn mapped_clients_are_ipv4() {
        let v4: IpAddr = "10.1.2.3".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(client_key(v4), client_key(mapped));
        assert!(matches!(
            client_key("::1".parse().unwrap()),
            ClientKey::V6(1)
        ));
    }
}
