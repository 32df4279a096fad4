//! Where a variable's value goes: as it is (keys), or escaped the way nginx escapes log
//! lines (`"`, `\` and bytes outside printable ASCII as `\xHH`, so a client cannot forge
//! fields or lines).

use std::fmt::{self, Write};

/// The output a variable writes its value into.
pub trait Sink {
    /// Appends the template's own text (never escaped: it is the operator's).
    fn push_literal(&mut self, s: &str);
    /// Appends text.
    fn push_str(&mut self, s: &str);
    /// Appends bytes that may not be UTF-8 (header values, the target as received).
    fn push_bytes(&mut self, b: &[u8]);
    /// Appends `s` lower-cased (ASCII).
    fn push_lowercase(&mut self, s: &str);
    /// Appends a value's `Display` form.
    fn push_display(&mut self, v: impl fmt::Display);
    /// Bytes written so far (a variable that wrote none is missing).
    fn written(&self) -> usize;
}

/// Values as they are; bytes that are not UTF-8 become U+FFFD.
pub struct Raw<'a>(pub &'a mut String);

impl Sink for Raw<'_> {
    #[inline]
    fn push_literal(&mut self, s: &str) {
        self.0.push_str(s);
    }

    #[inline]
    fn push_str(&mut self, s: &str) {
        self.0.push_str(s);
    }

    #[inline(always)]
    fn push_bytes(&mut self, b: &[u8]) {
        self.0.push_str(&String::from_utf8_lossy(b));
    }

    #[inline]
    fn push_lowercase(&mut self, s: &str) {
        let start = self.0.len();
        self.0.push_str(s);
        self.0[start..].make_ascii_lowercase();
    }

    #[inline]
    fn push_display(&mut self, v: impl fmt::Display) {
        let _ = write!(self.0, "{v}");
    }

    #[inline]
    fn written(&self) -> usize {
        self.0.len()
    }
}

/// Values escaped as nginx escapes log lines.
pub struct Escaped<'a>(pub &'a mut String);

impl Sink for Escaped<'_> {
    fn push_literal(&mut self, s: &str) {
        self.0.push_str(s);
    }

    fn push_str(&mut self, s: &str) {
        escape(self.0, s.as_bytes());
    }

    fn push_bytes(&mut self, b: &[u8]) {
        escape(self.0, b);
    }

    fn push_lowercase(&mut self, s: &str) {
        for b in s.bytes() {
            escape(self.0, &[b.to_ascii_lowercase()]);
        }
    }

    fn push_display(&mut self, v: impl fmt::Display) {
        let start = self.0.len();
        let _ = write!(self.0, "{v}");
        if self.0.as_bytes()[start..].iter().any(|&b| needs_escape(b)) {
            let written = self.0.split_off(start);
            escape(self.0, written.as_bytes());
        }
    }

    fn written(&self) -> usize {
        self.0.len()
    }
}

fn needs_escape(b: u8) -> bool {
    matches!(b, b'"' | b'\\' | 0..=0x1f | 0x7f..=0xff)
}

/// Appends `b` to `out`, `"`, `\` and bytes outside printable ASCII as `\xHH`.
pub fn escape(out: &mut String, b: &[u8]) {
    for &b in b {
        if needs_escape(b) {
            let _ = write!(out, "\\x{b:02X}");
        } else {
            out.push(b as char);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaped_as_nginx_logs_them() {
        let mut out = String::new();
        let mut s = Escaped(&mut out);
        s.push_str("a\"b\\c\t");
        s.push_bytes(&[0xff, b'x']);
        s.push_lowercase("HOST\u{ff}");
        s.push_display("q\"");
        assert_eq!(out, "a\\x22b\\x5Cc\\x09\\xFFxhost\\xC3\\xBFq\\x22");
    }

    #[test]
    fn raw_keeps_values() {
        let mut out = String::new();
        let mut s = Raw(&mut out);
        s.push_str("a\"b");
        s.push_bytes(&[0xff]);
        s.push_lowercase("HoSt");
        s.push_display(42);
        assert_eq!(out, "a\"b\u{fffd}host42");
    }
}
