//! The second, path reading of a value: what a file system or a servlet container makes
//! of `/etc/./passwd`, `//etc//passwd`, `..\..\win.ini` or Tomcat's `..;/`, so that the
//! rules written for `/etc/passwd` and `../` meet them too.

/// `text` with path tricks undone — `\` read as `/`, `//` as `/` (but `://`), `/./` as `/`,
/// Tomcat's `..;param/` as `../` — or `None` when it has none (nearly every value: one pass
/// over the bytes says so).
pub fn path_form(text: &str) -> Option<String> {
    let b = text.as_bytes();
    let tricky = memchr::memchr(b'\\', b).is_some()
        || memchr::memmem::find(b, b"..;").is_some()
        || memchr::memchr_iter(b'/', b).any(|i| match b.get(i + 1) {
            Some(b'/') => i == 0 || b[i - 1] != b':',
            Some(b'.') => b.get(i + 2).is_none_or(|&n| n == b'/'),
            _ => false,
        });
    if !tricky {
        return None;
    }
    let mut s = text.replace('\\', "/");
    while let Some(at) = s.find("..;") {
        let end = s[at..].find('/').map_or(s.len(), |e| at + e);
        s.replace_range(at + 2..end, "");
    }
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == '/' && out.ends_with('/') && !out.ends_with(":/") {
            continue;
        }
        out.push(c);
    }
    while out.contains("/./") {
        out = out.replace("/./", "/");
    }
    if out.ends_with("/.") {
        out.pop();
    }
    (out != text).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_tricks() {
        let p = |s: &str| path_form(s);
        assert_eq!(p("/etc/./passwd").as_deref(), Some("/etc/passwd"));
        assert_eq!(p("//etc//passwd").as_deref(), Some("/etc/passwd"));
        assert_eq!(p("/a/..;x=1/..;/etc").as_deref(), Some("/a/../../etc"));
        assert_eq!(p("..\\..\\win.ini").as_deref(), Some("../../win.ini"));
        assert_eq!(p("/./././x").as_deref(), Some("/x"));
        assert_eq!(p("https://shop.example/cart"), None);
        assert_eq!(p("plain words"), None);
    }
}
