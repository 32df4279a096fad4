//! One list (allow or deny): the networks written in the config plus, optionally, those of
//! a file (one network per line, `#` starts a comment) that is reloaded when it changes.
//!
//! Reload: see [`crate::support::watched_file`]; a changed file is read and parsed off the request
//! path and the new table replaces the old one atomically (`ArcSwap`). A file that cannot be
//! read or has a bad line keeps the last good list and is logged once per change (the next
//! change is tried again).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::support::watched_file::{off_request_path, WatchedFile};
use edgeproxy::kit::{Cidr, CidrTable as Table};

/// Bad lines reported in one error message at most.
const MAX_REPORTED: usize = 5;

/// A list's networks, live.
pub struct List {
    /// `allow` or `deny`, for logs.
    kind: &'static str,
    inline: Vec<Cidr>,
    file: Option<WatchedFile>,
    table: ArcSwap<Table>,
}

/// Reads a list file: every bad line is an error naming `path:line`.
pub fn read_file(path: &Path) -> Result<Vec<Cidr>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    parse_lines(&text).map_err(|bad| {
        let more = bad.len().saturating_sub(MAX_REPORTED);
        let mut msg: Vec<String> = bad
            .iter()
            .take(MAX_REPORTED)
            .map(|(line, e)| format!("{}:{line}: {e}", path.display()))
            .collect();
        if more > 0 {
            msg.push(format!("and {more} more bad lines"));
        }
        msg.join("; ")
    })
}

/// Parses list text; the error lists `(line number, error)` of every bad line.
pub fn parse_lines(text: &str) -> Result<Vec<Cidr>, Vec<(usize, String)>> {
    let mut rules = Vec::new();
    let mut bad = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let entry = line.split('#').next().unwrap_or("").trim();
        if entry.is_empty() {
            continue;
        }
        match entry.parse::<Cidr>() {
            Ok(c) => rules.push(c),
            Err(e) => bad.push((i + 1, e.to_string())),
        }
    }
    if bad.is_empty() {
        Ok(rules)
    } else {
        Err(bad)
    }
}

impl List {
    /// A list of `inline` networks plus those of `file` (read now: an unreadable or bad
    /// file is an error), checked for changes at most once per `check_every`.
    pub fn new(
        kind: &'static str,
        inline: Vec<Cidr>,
        file: Option<PathBuf>,
        check_every: Duration,
    ) -> Result<List, String> {
        let mut rules = inline.clone();
        let file = match file {
            Some(path) => {
                let watched = WatchedFile::new(path, check_every);
                let networks = read_file(watched.path());
                rules.extend(networks.map_err(|e| format!("{kind}_file: {e}"))?);
                Some(watched)
            }
            None => None,
        };
        Ok(List {
            kind,
            inline,
            table: ArcSwap::from_pointee(Table::new(&rules)),
            file,
        })
    }

    /// Whether the list has a file (so an empty table may become non-empty).
    pub fn has_file(&self) -> bool {
        self.file.is_some()
    }

    /// The current table (schedules a reload check first, see the module docs).
    pub fn table(self: &Arc<Self>) -> arc_swap::Guard<Arc<Table>> {
        if self.check_due() {
            let list = Arc::clone(self);
            off_request_path(move || {
                list.reload_if_changed();
            });
        }
        self.table.load()
    }

    /// Whether this caller won the (at most once per `check_every`) change check.
    fn check_due(&self) -> bool {
        self.file.as_ref().is_some_and(WatchedFile::check_due)
    }

    /// Reads the file again if its modification time or length changed since it was last
    /// read; returns whether a new table is in use.
    pub fn reload_if_changed(&self) -> bool {
        let Some(w) = self.file.as_ref().filter(|w| w.changed()) else {
            return false;
        };
        match read_file(w.path()) {
            Ok(from_file) => {
                let n = from_file.len();
                let table = Table::new(self.inline.iter().chain(&from_file));
                if self.kind == "allow" && table.is_empty() {
                    tracing::warn!(file = %w.path().display(), "ip-restriction: the allow list is now empty: every request is denied");
                }
                self.table.store(Arc::new(table));
                tracing::info!(file = %w.path().display(), networks = n, "ip-restriction: {} list reloaded", self.kind);
                true
            }
            Err(e) => {
                tracing::error!(
                    "ip-restriction: {} list not reloaded, keeping the last good one: {e}",
                    self.kind
                );
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::SystemTime;

    fn touch_later(path: &Path, secs: u64) {
        let later = SystemTime::now() + Duration::from_secs(secs);
        std::fs::File::options()
            .write(true)
            .open(path)
            .unwrap()
            .set_modified(later)
            .unwrap();
    }

    fn has(list: &Arc<List>, ip: &str) -> bool {
        list.table.load().contains(ip.parse().unwrap())
    }

    #[test]
    fn lines_comments_and_every_bad_line() {
        let ok = parse_lines("# office\n10.0.0.0/8  # vpn\n\n  2001:db8::/32\n").unwrap();
        assert_eq!(ok.len(), 2);
        let bad = parse_lines("10.0.0.0/8\nnope\n10.0.0.1/8\n").unwrap_err();
        assert_eq!(bad.iter().map(|b| b.0).collect::<Vec<_>>(), [2, 3]);
    }

    #[test]
    fn file_errors_name_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deny.txt");
        std::fs::write(&path, "10.0.0.0/8\n300.1.1.1\n").unwrap();
        let e = List::new("deny", vec![], Some(path.clone()), Duration::ZERO)
            .err()
            .unwrap();
        assert!(
            e.starts_with("deny_file: ") && e.contains("deny.txt:2: invalid CIDR `300.1.1.1`"),
            "{e}"
        );
        let e = List::new(
            "deny",
            vec![],
            Some(dir.path().join("none")),
            Duration::ZERO,
        )
        .err()
        .unwrap();
        assert!(e.contains("cannot read"), "{e}");
    }

    #[test]
    fn reloads_on_change_and_keeps_the_last_good_list() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("allow.txt");
        std::fs::write(&path, "10.0.0.0/8\n").unwrap();
        let inline = vec!["192.0.2.1".parse().unwrap()];
        let list =
            Arc::new(List::new("allow", inline, Some(path.clone()), Duration::ZERO).unwrap());
        assert!(has(&list, "10.1.1.1") && has(&list, "192.0.2.1"));
        assert!(
            !list.reload_if_changed(),
            "unchanged file is not read again"
        );

        std::fs::write(&path, "172.16.0.0/12\n").unwrap();
        touch_later(&path, 5);
        assert!(list.reload_if_changed());
        assert!(!has(&list, "10.1.1.1") && has(&list, "172.16.0.1") && has(&list, "192.0.2.1"));

        std::fs::write(&path, "172.16.0.0/12\nbroken\n").unwrap();
        touch_later(&path, 10);
        assert!(!list.reload_if_changed(), "a broken file is not used");
        assert!(
            !list.reload_if_changed(),
            "and not read again until it changes"
        );
        assert!(has(&list, "172.16.0.1"));

        std::fs::remove_file(&path).unwrap();
        assert!(
            !list.reload_if_changed(),
            "a deleted file keeps the last good list"
        );
        assert!(has(&list, "172.16.0.1"));
    }

    #[test]
    fn the_check_runs_at_most_once_per_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deny.txt");
        std::fs::write(&path, "10.0.0.0/8\n").unwrap();
        let list =
            Arc::new(List::new("deny", vec![], Some(path), Duration::from_secs(3600)).unwrap());
        assert!(!list.check_due(), "not due right after loading");
        let inline_only = List::new("deny", vec![], None, Duration::ZERO).unwrap();
        assert!(!inline_only.check_due() && !inline_only.has_file());
    }

    #[test]
    fn without_a_runtime_the_check_reloads_inline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deny.txt");
        std::fs::write(&path, "10.0.0.0/8\n").unwrap();
        let list = Arc::new(List::new("deny", vec![], Some(path.clone()), Duration::ZERO).unwrap());
        std::fs::write(&path, "11.0.0.0/8\n").unwrap();
        touch_later(&path, 5);
        std::thread::sleep(Duration::from_millis(2));
        assert!(list.table().contains("11.0.0.1".parse().unwrap()));
    }
}
