//! Start-up code out of memory: the program's text and read-only data are mapped from its
//! file, and whatever start-up touched (config reading, assembly, TLS and runtime set-up:
//! most of ~16 MB of text, with the kernel's fault-around) stays resident and counted in
//! the process's RSS/PSS although requests never run it again. [`drop_unused_text`] lets
//! go of those pages; the code requests run comes back on its first use as minor faults
//! from the page cache (the file's pages stay there), so what stays resident is what the
//! process runs. BENCHMARKS.md "Memory at small working sets" has the figures.
//!
//! Only mappings of the program's own file that are read-only and hold no private copy of
//! a page (`Anonymous: 0 kB` in `/proc/self/smaps`: never written, unlike the relocated
//! RELRO data) are dropped: a later access reads the very same bytes from the file again.
//! `/proc/self/smaps` is read by hand: the few fields needed do not warrant a crate.

use std::path::Path;

/// Drops the resident pages of the program's read-only mappings that hold no private copy
/// (see the module docs); returns the bytes of the mappings it advised. Errors (no
/// `/proc`, another OS) drop nothing.
pub fn drop_unused_text() -> usize {
    let Ok(exe) = std::fs::read_link("/proc/self/exe") else {
        return 0;
    };
    let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
        return 0;
    };
    let mut dropped = 0;
    for (start, end) in clean_read_only(&smaps, &exe) {
        // SAFETY: [start, end) is one whole mapping of this process (from /proc/self/smaps),
        // private, read-only and backed by the program's file, with no page written (no
        // anonymous copy): MADV_DONTNEED only unmaps its pages, and the next access maps
        // the same bytes from the file again. The running program's file cannot change
        // under it (writes to it fail with ETXTBSY; a replacement is another inode).
        let rc =
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_DONTNEED) };
        if rc == 0 {
            dropped += end - start;
        }
    }
    tracing::debug!(bytes = dropped, "start-up text dropped from memory");
    dropped
}

/// The `[start, end)` ranges of `exe`'s mappings in `smaps` that are private, read-only
/// (`r--p`, `r-xp`) and have no anonymous (copied-on-write) pages.
fn clean_read_only(smaps: &str, exe: &Path) -> Vec<(usize, usize)> {
    let exe = exe.to_string_lossy();
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else {
            continue;
        };
        if first.ends_with(':') {
            if first == "Anonymous:" && fields.next() == Some("0") {
                out.extend(current.take());
            }
            continue;
        }
        // A mapping's header: `start-end perms offset dev inode path`.
        current = None;
        let perms = fields.next();
        let path = fields.nth(3);
        if !matches!(perms, Some("r--p" | "r-xp")) || path != Some(exe.as_ref()) {
            continue;
        }
        let range = first.split_once('-').and_then(|(a, b)| {
            Some((
                usize::from_str_radix(a, 16).ok()?,
                usize::from_str_radix(b, 16).ok()?,
            ))
        });
        current = range.filter(|(a, b)| a < b);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "\
5555a000-5555b000 r--p 00000000 fd:00 42 /usr/bin/edgeproxy
Size:                  4 kB
Anonymous:             0 kB
5555b000-5555d000 r-xp 00001000 fd:00 42 /usr/bin/edgeproxy
Size:                  8 kB
Anonymous:             0 kB
5555d000-5555e000 r--p 00003000 fd:00 42 /usr/bin/edgeproxy
Size:                  4 kB
Anonymous:             4 kB
5555e000-5555f000 rw-p 00004000 fd:00 42 /usr/bin/edgeproxy
Anonymous:             0 kB
7f000000-7f001000 r-xp 00000000 fd:00 7 /usr/lib/libc.so.6
Anonymous:             0 kB
7f002000-7f003000 rw-p 00000000 00:00 0
Anonymous:             4 kB
";

    #[test]
    fn only_the_programs_unwritten_read_only_mappings() {
        let got = clean_read_only(SMAPS, Path::new("/usr/bin/edgeproxy"));
        assert_eq!(
            got,
            vec![(0x5555a000, 0x5555b000), (0x5555b000, 0x5555d000)],
            "the relocated r--p (anonymous pages), the rw-p, another file's and anonymous \
             mappings are kept"
        );
    }

    #[test]
    fn this_process_keeps_running_after_its_text_is_dropped() {
        assert!(drop_unused_text() > 0, "the test binary has read-only text");
        // Code and read-only data come back from the file on use.
        let v: Vec<String> = (0..100).map(|i| format!("{i:x}")).collect();
        assert_eq!(v[99], "63");
        assert_eq!(clean_read_only("", Path::new("/x")), vec![]);
    }
}
