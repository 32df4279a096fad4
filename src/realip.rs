//! The client's real address behind trusted proxies: nginx's realip module
//! (`set_real_ip_from`, `real_ip_header`, `real_ip_recursive`), per server block.
//!
//! A request's client address starts as the TCP peer. When the peer is in the trusted
//! networks, the address named by the configured source replaces it:
//!
//! - a header (`X-Forwarded-For`, `X-Real-IP`, or any other, e.g. `CF-Connecting-IP`): its
//!   values read as one list (several field lines join with `,`; entries separate on `,` or
//!   whitespace, empty ones skipped), from the right. Without `recursive`, the rightmost
//!   entry is taken. With `recursive`, entries are taken from the right while they are
//!   themselves trusted: the result is the rightmost untrusted entry (or the leftmost
//!   entry when all are trusted). An entry that is not an address (`unknown`, garbage)
//!   stops the walk: the last address taken stands (the peer when it is the rightmost).
//! - `proxy_protocol`: the source address of the connection's PROXY protocol header.
//!
//! This is nginx's `ngx_http_get_forwarded_addr`, entry for entry. A peer outside the
//! trusted networks can therefore never choose its address: its headers are ignored.
//! Entries may carry a port (`192.0.2.1:5000`, `[2001:db8::1]:5000`); the port becomes
//! `$remote_port`, 0 when there is none.

use std::net::{IpAddr, SocketAddr};

use http::HeaderName;
use pingora::http::RequestHeader;

use crate::cidr::Table;

/// Where the real address comes from (nginx `real_ip_header`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A request header holding an address, or a list of them (`X-Forwarded-For`).
    Header(HeaderName),
    /// The PROXY protocol header of the connection (nginx `real_ip_header proxy_protocol`).
    ProxyProtocol,
}

impl Source {
    /// `proxy_protocol` (any case) or a header name.
    pub fn parse(s: &str) -> Option<Source> {
        if s.eq_ignore_ascii_case("proxy_protocol") {
            return Some(Source::ProxyProtocol);
        }
        HeaderName::from_bytes(s.as_bytes())
            .ok()
            .map(Source::Header)
    }
}

/// A server block's `real_ip` settings.
#[derive(Debug, Clone)]
pub struct RealIp {
    /// The trusted proxies (nginx `set_real_ip_from`).
    pub trusted: Table,
    /// Where the real address is read (nginx `real_ip_header`, default `X-Real-IP`).
    pub source: Source,
    /// Skip trusted addresses in the list, from the right (nginx `real_ip_recursive`,
    /// default off).
    pub recursive: bool,
}

impl RealIp {
    /// The client address of a request from `peer`: `peer` itself unless `peer` is trusted
    /// and the source names a valid address. `proxy_protocol` is the PROXY protocol source
    /// address of the connection, if it had one.
    pub fn resolve(
        &self,
        peer: SocketAddr,
        req: &RequestHeader,
        proxy_protocol: Option<SocketAddr>,
    ) -> SocketAddr {
        if !self.trusted.contains(peer.ip()) {
            return peer;
        }
        let name = match &self.source {
            Source::ProxyProtocol => return proxy_protocol.unwrap_or(peer),
            Source::Header(name) => name,
        };
        let mut addr = peer;
        let entries = req
            .headers
            .get_all(name)
            .iter()
            .rev()
            .flat_map(|v| v.as_bytes().rsplit(|b| matches!(b, b',' | b' ' | b'\t')))
            .filter(|e| !e.is_empty());
        for entry in entries {
            let Some(a) = parse_entry(entry) else {
                break;
            };
            addr = a;
            if !self.recursive || !self.trusted.contains(a.ip()) {
                break;
            }
        }
        addr
    }
}

/// An address with an optional port: `192.0.2.1`, `192.0.2.1:80`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:80`.
fn parse_entry(entry: &[u8]) -> Option<SocketAddr> {
    let s = std::str::from_utf8(entry).ok()?;
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some(sa);
    }
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(s);
    bare.parse::<IpAddr>().ok().map(|ip| SocketAddr::new(ip, 0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cidr::Cidr;

    fn realip(trusted: &[&str], header: &str, recursive: bool) -> RealIp {
        let rules: Vec<Cidr> = trusted.iter().map(|r| r.parse().unwrap()).collect();
        RealIp {
            trusted: Table::new(&rules),
            source: Source::parse(header).unwrap(),
            recursive,
        }
    }

    fn req(headers: &[(&str, &str)]) -> RequestHeader {
        let mut r = RequestHeader::build("GET", b"/", None).unwrap();
        for (k, v) in headers {
            r.append_header(k.to_string(), *v).unwrap();
        }
        r
    }

    fn ip(r: &RealIp, peer: &str, headers: &[(&str, &str)]) -> String {
        let peer = SocketAddr::new(peer.parse().unwrap(), 1234);
        r.resolve(peer, &req(headers), None).to_string()
    }

    const XFF: &str = "x-forwarded-for";

    #[test]
    fn untrusted_peers_keep_their_address() {
        let r = realip(&["10.0.0.0/8"], "X-Forwarded-For", true);
        assert_eq!(ip(&r, "192.0.2.9", &[(XFF, "1.2.3.4")]), "192.0.2.9:1234");
    }

    #[test]
    fn rightmost_entry_without_recursion() {
        let r = realip(&["10.0.0.0/8"], "X-Forwarded-For", false);
        let h = [(XFF, "1.1.1.1, 10.0.0.2, 2.2.2.2, 10.0.0.3")];
        assert_eq!(ip(&r, "10.0.0.1", &h), "10.0.0.3:0");
        assert_eq!(ip(&r, "10.0.0.1", &[]), "10.0.0.1:1234");
    }

    #[test]
    fn rightmost_untrusted_entry_with_recursion() {
        let r = realip(&["10.0.0.0/8"], "X-Forwarded-For", true);
        let h = [(XFF, "1.1.1.1, 10.0.0.2, 2.2.2.2, 10.0.0.3")];
        assert_eq!(ip(&r, "10.0.0.1", &h), "2.2.2.2:0");
        // All trusted: the leftmost.
        assert_eq!(
            ip(&r, "10.0.0.1", &[(XFF, "10.0.0.7 10.0.0.8")]),
            "10.0.0.7:0"
        );
        // Several field lines are one list; the last line holds the rightmost entries.
        let lines = [(XFF, "3.3.3.3"), (XFF, "10.0.0.5,, 10.0.0.6")];
        assert_eq!(ip(&r, "10.0.0.1", &lines), "3.3.3.3:0");
    }

    #[test]
    fn invalid_entries_stop_the_walk() {
        let r = realip(&["10.0.0.0/8"], "X-Forwarded-For", true);
        assert_eq!(ip(&r, "10.0.0.1", &[(XFF, "unknown")]), "10.0.0.1:1234");
        assert_eq!(
            ip(&r, "10.0.0.1", &[(XFF, "1.1.1.1, bogus, 10.0.0.4")]),
            "10.0.0.4:0"
        );
        assert_eq!(ip(&r, "10.0.0.1", &[(XFF, "")]), "10.0.0.1:1234");
        assert_eq!(ip(&r, "10.0.0.1", &[(XFF, "300.1.1.1")]), "10.0.0.1:1234");
    }

    #[test]
    fn ports_ipv6_and_other_headers() {
        let r = realip(&["10.0.0.0/8", "2001:db8::/32"], "X-Real-IP", false);
        assert_eq!(
            ip(&r, "10.0.0.1", &[("x-real-ip", "192.0.2.1:5000")]),
            "192.0.2.1:5000"
        );
        assert_eq!(
            ip(&r, "2001:db8::1", &[("x-real-ip", "2001:db8:ffff::7")]),
            "[2001:db8:ffff::7]:0"
        );
        assert_eq!(
            ip(&r, "10.0.0.1", &[("x-real-ip", "[2001:db9::1]:443")]),
            "[2001:db9::1]:443"
        );
        assert_eq!(
            ip(&r, "10.0.0.1", &[("x-real-ip", "[2001:db9::2]")]),
            "[2001:db9::2]:0"
        );
        // The X-Forwarded-For of a client is not X-Real-IP.
        assert_eq!(ip(&r, "10.0.0.1", &[(XFF, "1.2.3.4")]), "10.0.0.1:1234");
        let cf = realip(&["10.0.0.0/8"], "CF-Connecting-IP", false);
        assert_eq!(
            ip(&cf, "10.0.0.1", &[("cf-connecting-ip", "198.51.100.4")]),
            "198.51.100.4:0"
        );
    }

    #[test]
    fn proxy_protocol_source() {
        let r = realip(&["10.0.0.0/8"], "PROXY_PROTOCOL", false);
        assert_eq!(r.source, Source::ProxyProtocol);
        let pp: SocketAddr = "198.51.100.7:40000".parse().unwrap();
        let trusted: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let other: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let none = req(&[(XFF, "1.2.3.4")]);
        assert_eq!(r.resolve(trusted, &none, Some(pp)), pp);
        assert_eq!(r.resolve(trusted, &none, None), trusted);
        assert_eq!(r.resolve(other, &none, Some(pp)), other);
    }
}
