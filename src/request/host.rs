//! `Host` values and absolute-form authorities (RFC 9112 §3.2, RFC 3986 §3.2.2), reduced to
//! the name routes match: lowercase, without port and without a trailing dot.
//!
//! Stricter than RFC 3986's `reg-name` on purpose: a name is letters, digits, `-`, `.` and
//! `_` (what DNS names and nginx `server_name`s use); percent-escapes and sub-delimiters are
//! refused, since they would only let a `Host` slip past a route's host list. IP literals
//! are `[IPv6]`; an empty value, `..`, a leading dot or a non-numeric port is refused.

use std::net::Ipv6Addr;

/// Why a `Host` value (or absolute-form authority) is refused (the request gets 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HostError {
    /// Empty value.
    #[error("empty host")]
    Empty,
    /// A character no host name has.
    #[error("invalid character in host")]
    BadChar,
    /// `..`, a leading dot, or only a dot.
    #[error("empty label in host")]
    EmptyLabel,
    /// `[...]` that is not an IPv6 address.
    #[error("invalid IP literal in host")]
    BadLiteral,
    /// A port that is not 0–65535.
    #[error("invalid port in host")]
    BadPort,
}

/// The name in `value` (`host[:port]`): lowercase, port and one trailing dot removed.
pub fn name(value: &[u8]) -> Result<String, HostError> {
    if value.is_empty() {
        return Err(HostError::Empty);
    }
    let (host, port) = if value.first() == Some(&b'[') {
        let end = value
            .iter()
            .position(|&b| b == b']')
            .ok_or(HostError::BadLiteral)?;
        let literal = std::str::from_utf8(&value[1..end]).map_err(|_| HostError::BadLiteral)?;
        literal
            .parse::<Ipv6Addr>()
            .map_err(|_| HostError::BadLiteral)?;
        let rest = &value[end + 1..];
        let port = match rest.split_first() {
            None => None,
            Some((b':', port)) => Some(port),
            Some(_) => return Err(HostError::BadLiteral),
        };
        (&value[..=end], port)
    } else {
        match value.iter().position(|&b| b == b':') {
            Some(i) => (&value[..i], Some(&value[i + 1..])),
            None => (value, None),
        }
    };
    if let Some(port) = port {
        check_port(port)?;
    }
    if host.first() == Some(&b'[') {
        return Ok(String::from_utf8_lossy(host).to_ascii_lowercase());
    }
    reg_name(host)
}

fn reg_name(host: &[u8]) -> Result<String, HostError> {
    let host = host.strip_suffix(b".").unwrap_or(host);
    if host.is_empty() {
        return Err(HostError::EmptyLabel);
    }
    // One pass (it runs on every request): lowercased as it is checked; a bad character
    // is reported before an empty label, wherever each is.
    let mut name = String::with_capacity(host.len());
    let (mut empty_label, mut after_dot) = (false, true);
    for &b in host {
        match b {
            b'.' => {
                empty_label |= after_dot;
                after_dot = true;
            }
            b if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_') => after_dot = false,
            _ => return Err(HostError::BadChar),
        }
        name.push(char::from(b.to_ascii_lowercase()));
    }
    match empty_label {
        true => Err(HostError::EmptyLabel),
        false => Ok(name),
    }
}

/// RFC 3986 allows an empty port (`host:`); otherwise it is a number up to 65535.
fn check_port(port: &[u8]) -> Result<(), HostError> {
    if port.len() > 5 || !port.iter().all(u8::is_ascii_digit) {
        return Err(HostError::BadPort);
    }
    let n = port.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    if n > 65535 {
        return Err(HostError::BadPort);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lowercased_without_port_or_trailing_dot() {
        for (value, want) in [
            ("example.com", "example.com"),
            ("API.Example.com:8080", "api.example.com"),
            ("example.com.", "example.com"),
            ("example.com.:80", "example.com"),
            ("host:", "host"),
            ("127.0.0.1:80", "127.0.0.1"),
            ("my_host-1", "my_host-1"),
            ("[::1]", "[::1]"),
            ("[::1]:8080", "[::1]"),
            ("[FE80::1]", "[fe80::1]"),
        ] {
            assert_eq!(name(value.as_bytes()).as_deref(), Ok(want), "{value}");
        }
    }

    #[test]
    fn invalid_values_are_refused() {
        for (value, err) in [
            ("", HostError::Empty),
            ("a b", HostError::BadChar),
            ("a/b", HostError::BadChar),
            ("a\\b", HostError::BadChar),
            ("a%2eb", HostError::BadChar),
            ("user@host", HostError::BadChar),
            ("a,b", HostError::BadChar),
            ("h\u{e9}", HostError::BadChar),
            (".", HostError::EmptyLabel),
            (".a", HostError::EmptyLabel),
            ("a..b", HostError::EmptyLabel),
            (":80", HostError::EmptyLabel),
            ("a:b", HostError::BadPort),
            ("a:80:80", HostError::BadPort),
            ("a:65536", HostError::BadPort),
            ("a:123456", HostError::BadPort),
            ("[::1", HostError::BadLiteral),
            ("[zz]", HostError::BadLiteral),
            ("[::1]x", HostError::BadLiteral),
            ("[::1]:x", HostError::BadPort),
        ] {
            assert_eq!(name(value.as_bytes()), Err(err), "{value:?}");
        }
    }
}
