//! Path normalization, the nginx way: percent-decoding, dot-segments and duplicate slashes
//! resolved (`merge_slashes on`), so a route matches the path the upstream will act on.
//!
//! | input | result |
//! |---|---|
//! | `/%61uth/x` | `/auth/x` (every `%XX` is decoded, `%2F` too, as nginx does) |
//! | `//auth///x` | `/auth/x` |
//! | `/x/../auth/./x`, `/x/%2e%2e/auth/x` | `/auth/x` |
//! | `/..`, `/a/../..` | error: above the root (nginx: 400) |
//! | `/a%00b` | error: NUL (nginx: 400) |
//! | `/a%zz`, `/a%4` | error: broken escape (nginx: 400) |
//! | `/a\b`, `/a%5Cb` | error: backslash (some upstreams read it as `/`) |
//! | `/a;p=1/b` | error: path parameter (some upstreams strip it, nginx does not) |
//! | `/%c0%ae`, `/%ff` | error: not UTF-8 (overlong forms included) |
//!
//! The normalized path is kept decoded (what routes and `$uri` see); [`encode`] turns it
//! back into a request-target path for the upstream, escaping only what must be escaped.

use std::fmt::Write;

/// Why a path cannot be normalized (the request gets 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// `%` not followed by two hex digits.
    #[error("malformed percent-escape in the path")]
    BadEscape,
    /// `%00`.
    #[error("NUL byte in the path")]
    Nul,
    /// `\` or `%5C`.
    #[error("backslash in the path")]
    Backslash,
    /// A raw `;` (path parameter).
    #[error("path parameter (`;`) in the path")]
    Parameter,
    /// `..` climbing above `/`.
    #[error("path climbs above the root")]
    AboveRoot,
    /// The decoded path is not UTF-8.
    #[error("path is not UTF-8 once decoded")]
    NotUtf8,
    /// The path does not start with `/`.
    #[error("path does not start with `/`")]
    NotAbsolute,
}

/// Decodes and normalizes `raw` (the path part of a request-target, without the query).
pub fn normalize(raw: &[u8]) -> Result<String, PathError> {
    if raw.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    if let Some(already) = already_normal(raw) {
        return Ok(already.to_string());
    }
    let decoded = String::from_utf8(decode(raw)?).map_err(|_| PathError::NotUtf8)?;
    resolve(&decoded)
}

/// `raw` (a request-target's path, without the query) as routes see it — decoded and
/// normalized — and as it is forwarded — that path encoded again. An already-normal path
/// (the common case) is both as received, without the decode/encode round trip.
pub fn normalize_target(raw: &[u8]) -> Result<(String, Vec<u8>), PathError> {
    if let Some(normal) = already_normal(raw) {
        return Ok((normal.to_owned(), raw.to_vec()));
    }
    let path = normalize(raw)?;
    let encoded = encode(&path).into_bytes();
    Ok((path, encoded))
}

/// The common case, without decoding or resolving: a path of bytes that need no escape
/// (so no `%`, `;`, `\\`, NUL or non-ASCII), with no empty, `.` or `..` segment, is its own
/// normalized (and encoded) form. `None` also for anything not starting with `/`.
fn already_normal(raw: &[u8]) -> Option<&str> {
    if raw.first() != Some(&b'/') {
        return None;
    }
    // One pass: every byte kept as is, and each segment (between slashes) neither empty
    // (but the last) nor `.` / `..`.
    let mut start = 1;
    for (i, &b) in raw.iter().enumerate().skip(1) {
        if b == b'/' {
            if matches!(&raw[start..i], b"" | b"." | b"..") {
                return None;
            }
            start = i + 1;
        } else if !keeps(b) {
            return None;
        }
    }
    if matches!(&raw[start..], b"." | b"..") {
        return None;
    }
    std::str::from_utf8(raw).ok()
}

/// Percent-decodes every escape, refusing what nginx refuses (broken escapes, NUL) and what
/// an upstream could read differently from us (backslashes, path parameters).
fn decode(raw: &[u8]) -> Result<Vec<u8>, PathError> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let b = match raw[i] {
            b'%' => {
                let hi = raw.get(i + 1).and_then(|&c| hex(c));
                let lo = raw.get(i + 2).and_then(|&c| hex(c));
                let (Some(hi), Some(lo)) = (hi, lo) else {
                    return Err(PathError::BadEscape);
                };
                i += 2;
                (hi << 4) | lo
            }
            b';' => return Err(PathError::Parameter),
            b => b,
        };
        match b {
            0 => return Err(PathError::Nul),
            b'\\' => return Err(PathError::Backslash),
            _ => out.push(b),
        }
        i += 1;
    }
    Ok(out)
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Resolves `.`/`..` segments and merges slashes in a decoded path starting with `/`.
fn resolve(path: &str) -> Result<String, PathError> {
    let mut kept: Vec<&str> = Vec::new();
    let mut segments = path.split('/').skip(1).peekable();
    let mut trailing_slash = false;
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        match seg {
            "" | "." => trailing_slash = last,
            ".." => {
                kept.pop().ok_or(PathError::AboveRoot)?;
                trailing_slash = last;
            }
            s => {
                kept.push(s);
                trailing_slash = false;
            }
        }
    }
    let mut out = String::with_capacity(path.len());
    for seg in &kept {
        out.push('/');
        out.push_str(seg);
    }
    if trailing_slash || kept.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// The request-target form of a normalized path: bytes that may stand in a path as they
/// are (letters, digits, `-._~!$&'()*+,=:@/`) stay; everything else is `%XX`, including `;`
/// (so an upstream never sees a path parameter we did not), `%`, `?` and `#`.
pub fn encode(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for &b in path.as_bytes() {
        if keeps(b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

fn keeps(b: u8) -> bool {
    b.is_ascii_alphanumeric()
        || matches!(
            b,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b'='
                | b':'
                | b'@'
                | b'/'
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fast_path_agrees_with_decoding_and_resolving() {
        for raw in [
            "/",
            "/a",
            "/a/",
            "/a/b.c/d",
            "/a//b",
            "//",
            "/./a",
            "/a/.",
            "/a/..",
            "/a/../b",
            "/.a/..b/...",
            "/a%20b",
            "/~user/x-y_z",
            "/a:b@c",
            "/%2e%2e/x",
            "/a/.b/",
        ] {
            let fast = already_normal(raw.as_bytes()).map(str::to_string);
            let slow = String::from_utf8(decode(raw.as_bytes()).unwrap())
                .map_err(|_| PathError::NotUtf8)
                .and_then(|d| resolve(&d));
            if let Some(fast) = fast {
                assert_eq!(Ok(fast.clone()), slow, "{raw}");
                assert_eq!(encode(&fast), fast, "{raw}");
            }
        }
    }

    fn norm(s: &str) -> Result<String, PathError> {
        normalize(s.as_bytes())
    }

    #[test]
    fn decodes_and_resolves_like_nginx() {
        for (raw, want) in [
            ("/", "/"),
            ("/auth/secret", "/auth/secret"),
            ("/%61uth/secret", "/auth/secret"),
            ("//auth/secret", "/auth/secret"),
            ("/auth//secret", "/auth/secret"),
            ("/x/../auth/secret", "/auth/secret"),
            ("/x/%2e%2e/auth/secret", "/auth/secret"),
            ("/x/%2E%2E/auth/secret", "/auth/secret"),
            ("/x%2F..%2Fauth/secret", "/auth/secret"),
            ("/auth%2Fsecret", "/auth/secret"),
            ("/./auth/./secret", "/auth/secret"),
            ("/auth/secret/..", "/auth/"),
            ("/auth/secret/.", "/auth/secret/"),
            ("/auth/", "/auth/"),
            ("//", "/"),
            ("/a/..", "/"),
            ("/.../x", "/.../x"),
            ("/..a/x", "/..a/x"),
            ("/a%20b", "/a b"),
            ("/caf%C3%A9", "/café"),
            ("/a%25b", "/a%b"),
            ("/a%3Bb", "/a;b"),
            ("/a%3Fb", "/a?b"),
        ] {
            assert_eq!(norm(raw).as_deref(), Ok(want), "{raw}");
        }
    }

    #[test]
    fn refuses_what_is_ambiguous_or_broken() {
        for (raw, err) in [
            ("/..", PathError::AboveRoot),
            ("/a/../..", PathError::AboveRoot),
            ("/%2e%2e/x", PathError::AboveRoot),
            ("/a%00b", PathError::Nul),
            ("/a%zz", PathError::BadEscape),
            ("/a%4", PathError::BadEscape),
            ("/a%", PathError::BadEscape),
            ("/a\\b", PathError::Backslash),
            ("/a%5cb", PathError::Backslash),
            ("/a;p=1/b", PathError::Parameter),
            ("/x/..;/auth", PathError::Parameter),
            ("/%c0%ae%c0%ae/x", PathError::NotUtf8),
            ("/%ff", PathError::NotUtf8),
            ("auth/x", PathError::NotAbsolute),
            ("", PathError::NotAbsolute),
            ("*", PathError::NotAbsolute),
        ] {
            assert_eq!(norm(raw), Err(err), "{raw}");
        }
    }

    #[test]
    fn encoding_escapes_only_what_a_path_cannot_hold() {
        assert_eq!(encode("/auth/secret"), "/auth/secret");
        assert_eq!(encode("/a b/c?d#e%f;g"), "/a%20b/c%3Fd%23e%25f%3Bg");
        assert_eq!(encode("/café"), "/caf%C3%A9");
        assert_eq!(encode("/a-._~!$&'()*+,=:@b"), "/a-._~!$&'()*+,=:@b");
    }

    #[test]
    fn normalizing_the_encoded_form_is_the_identity() {
        for raw in ["/a%20b/%3F/%25/%3B/caf%C3%A9", "/x/../y//z/", "/%2F%2F"] {
            let once = norm(raw).unwrap();
            assert_eq!(norm(&encode(&once)).unwrap(), once, "{raw}");
        }
    }
}
