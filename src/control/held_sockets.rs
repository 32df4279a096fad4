//! Which sockets a process holds open, read from `/proc/PID/fd`: how `upgrade` sees the
//! old process close the listeners it handed over, so the command returns only once every
//! new connection is the new process's.
//!
//! A listener passed with `SCM_RIGHTS` is the same open socket in both processes (one
//! inode), and the new process inherits nothing else from the old one, so the sockets both
//! hold are exactly the handed-over listeners.

use std::collections::HashSet;

/// The inodes of the sockets `pid` holds open, or `None` when its fd table cannot be read
/// (the process is gone, or belongs to another user).
pub fn socket_inodes(pid: i32) -> Option<HashSet<u64>> {
    let dir = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?;
    Some(
        dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter_map(|target| inode_of(target.to_str()?))
            .collect(),
    )
}

/// `socket:[1234]` → 1234.
fn inode_of(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The listeners `new` received from `old`: the sockets both hold. Empty when either fd
/// table cannot be read.
pub fn shared(old: i32, new: i32) -> HashSet<u64> {
    match (socket_inodes(old), socket_inodes(new)) {
        (Some(o), Some(n)) => o.intersection(&n).copied().collect(),
        _ => HashSet::new(),
    }
}

/// True while `pid` still holds any of `sockets` (false once it closed them all, or is gone).
pub fn still_holds(pid: i32, sockets: &HashSet<u64>) -> bool {
    socket_inodes(pid).is_some_and(|held| !held.is_disjoint(sockets))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn a_socket_link_names_its_inode() {
        assert_eq!(inode_of("socket:[4242]"), Some(4242));
        assert_eq!(inode_of("pipe:[4242]"), None);
        assert_eq!(inode_of("/dev/null"), None);
        assert_eq!(inode_of("socket:[x]"), None);
    }

    #[test]
    fn sees_a_listener_this_process_holds_and_then_closes() {
        let me = std::process::id() as i32;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ino = {
            use std::os::fd::AsRawFd;
            std::fs::metadata(format!("/proc/self/fd/{}", listener.as_raw_fd()))
                .unwrap()
                .ino()
        };
        let mine: HashSet<u64> = [ino].into();
        assert!(socket_inodes(me).unwrap().contains(&ino));
        assert!(shared(me, me).contains(&ino));
        assert!(still_holds(me, &mine));
        drop(listener);
        assert!(!still_holds(me, &mine));
        assert!(socket_inodes(i32::MAX).is_none());
    }
}
