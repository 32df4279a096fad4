//! The server name of a TLS ClientHello, read without terminating TLS (nginx
//! `ssl_preread`): the bytes are kept and sent on to the upstream unchanged.
//!
//! Hand-written (about forty lines of RFC 8446 §4.1.2 / RFC 6066 §3 walking): the TLS crates
//! in the tree (OpenSSL, rustls) parse a ClientHello only inside a handshake they run.

/// The largest first record read (a TLS record's payload is at most 16 KiB).
pub const MAX_RECORD: usize = 5 + 16 * 1024;

/// How much of `buf` the first TLS record needs: `Some(n)` once `buf` starts a handshake
/// record (`n` = its whole length), `None` when `buf` cannot be TLS.
pub fn record_len(buf: &[u8]) -> Option<usize> {
    match buf {
        [0x16, 3, _, hi, lo, ..] => Some(5 + u16::from_be_bytes([*hi, *lo]) as usize),
        [0x16, 3, ..] | [0x16] | [] => Some(5),
        _ => None,
    }
}

/// The SNI host name of the ClientHello in `record` (a whole first record), lowercased.
pub fn server_name(record: &[u8]) -> Option<String> {
    let mut r = Reader(record.get(5..)?);
    if r.u8()? != 1 {
        return None; // not a ClientHello
    }
    r.take(3 + 2 + 32)?; // length, legacy version, random
    let sid = r.u8()? as usize;
    r.take(sid)?;
    let suites = r.u16()? as usize;
    r.take(suites)?;
    let methods = r.u8()? as usize;
    r.take(methods)?;
    let ext_len = r.u16()? as usize;
    let mut exts = Reader(r.take(ext_len)?);
    while let (Some(kind), Some(len)) = (exts.u16(), exts.u16()) {
        let data = exts.take(len as usize)?;
        if kind != 0 {
            continue;
        }
        let mut list = Reader(data);
        let len = list.u16()? as usize;
        let mut names = Reader(list.take(len)?);
        while let (Some(name_type), Some(len)) = (names.u8(), names.u16()) {
            let name = names.take(len as usize)?;
            if name_type == 0 {
                return std::str::from_utf8(name).ok().map(str::to_ascii_lowercase);
            }
        }
    }
    None
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}

/// Whether `pattern` (`name` or `*.suffix`, one or more labels) covers `name`.
pub fn matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_prefix('*') {
        Some(suffix) => name.len() > suffix.len() && name.ends_with(suffix),
        None => pattern == name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello from OpenSSL for `Shop.Example` (built by hand: the fields in order).
    fn hello(name: &[u8]) -> Vec<u8> {
        let mut sni = vec![0u8];
        sni.extend((name.len() as u16).to_be_bytes());
        sni.extend(name);
        let mut ext = vec![0, 0];
        ext.extend(((sni.len() + 2) as u16).to_be_bytes());
        ext.extend((sni.len() as u16).to_be_bytes());
        ext.extend(sni);
        let other = [0u8, 0x2b, 0, 3, 2, 3, 4]; // supported_versions, before SNI
        let mut body = vec![3, 3];
        body.extend([7u8; 32]);
        body.extend([0, 0, 2, 0x13, 1, 1, 0]);
        body.extend(((other.len() + ext.len()) as u16).to_be_bytes());
        body.extend(other);
        body.extend(ext);
        let mut hs = vec![1, 0];
        hs.extend((body.len() as u16).to_be_bytes());
        hs.extend(body);
        let mut rec = vec![0x16, 3, 1];
        rec.extend((hs.len() as u16).to_be_bytes());
        rec.extend(hs);
        rec
    }

    #[test]
    fn names_from_client_hellos() {
        let rec = hello(b"Shop.Example");
        assert_eq!(record_len(&rec[..3]), Some(5));
        assert_eq!(record_len(&rec), Some(rec.len()));
        assert_eq!(server_name(&rec).as_deref(), Some("shop.example"));
        assert_eq!(server_name(&rec[..rec.len() - 3]), None, "cut short");
        assert_eq!(record_len(b"GET / HTTP/1.1"), None);
    }

    #[test]
    fn patterns() {
        assert!(matches("a.test", "a.test"));
        assert!(matches("*.b.test", "x.b.test") && matches("*.b.test", "y.x.b.test"));
        assert!(!matches("*.b.test", "b.test") && !matches("a.test", "b.test"));
    }
}
