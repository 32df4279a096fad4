//! The HTTP version a group speaks to its servers (`protocol = "h1" | "h2" | "h2c" | "auto"`,
//! nginx's `proxy_http_version` / `grpc_pass grpc://` / `grpcs://`) and its HTTP/2
//! connection settings (streams per connection, pings, connections per member).

use std::time::Duration;

/// How a group talks to its servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UpstreamProtocol {
    /// HTTP/1.1 (the default).
    #[default]
    H1,
    /// HTTP/2 over TLS, ALPN `h2` only: a server that does not agree is an error, never
    /// a silent fall-back to HTTP/1.1 (needs `tls`).
    H2,
    /// HTTP/2 over plain TCP with prior knowledge (RFC 9113 §3.3), the usual gRPC backend.
    H2c,
    /// HTTP/2 over TLS when the server offers it by ALPN, else HTTP/1.1 (needs `tls`).
    Auto,
}

impl UpstreamProtocol {
    /// Every protocol by its config name.
    pub const NAMES: [(&'static str, UpstreamProtocol); 4] = [
        ("h1", UpstreamProtocol::H1),
        ("h2", UpstreamProtocol::H2),
        ("h2c", UpstreamProtocol::H2c),
        ("auto", UpstreamProtocol::Auto),
    ];

    /// The protocol named `name` in the config.
    pub fn parse(name: &str) -> Option<Self> {
        Self::NAMES
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, p)| *p)
    }

    /// Its config name.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(_, p)| *p == self)
            .map_or("h1", |(n, _)| n)
    }

    /// Whether HTTP/2 may be spoken (h2, h2c, auto).
    pub fn may_be_h2(self) -> bool {
        self != UpstreamProtocol::H1
    }

    /// Whether every request must go out as HTTP/2 (h2, h2c).
    pub fn requires_h2(self) -> bool {
        matches!(self, UpstreamProtocol::H2 | UpstreamProtocol::H2c)
    }
}

/// A group's HTTP/2 connection settings (used when its protocol may be HTTP/2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct H2Settings {
    /// Concurrent streams (requests) on one connection; the server's own
    /// `SETTINGS_MAX_CONCURRENT_STREAMS` lowers it further.
    pub max_streams: usize,
    /// PING interval on idle and busy connections (a dead connection is found and closed);
    /// `None`: no pings.
    pub ping_interval: Option<Duration>,
}

impl H2Settings {
    /// Default streams per connection (what gRPC servers commonly allow).
    pub const DEFAULT_MAX_STREAMS: usize = 100;
}

impl Default for H2Settings {
    /// 100 streams per connection, no pings.
    fn default() -> Self {
        H2Settings {
            max_streams: Self::DEFAULT_MAX_STREAMS,
            ping_interval: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::UpstreamProtocol;

    #[test]
    fn names_round_trip() {
        for (name, p) in UpstreamProtocol::NAMES {
            assert_eq!(UpstreamProtocol::parse(name), Some(p));
            assert_eq!(p.name(), name);
        }
        assert_eq!(UpstreamProtocol::parse("http2"), None);
        assert!(UpstreamProtocol::H2c.requires_h2() && !UpstreamProtocol::Auto.requires_h2());
    }
}
