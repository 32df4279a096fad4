//! `edgeproxy -s reload|upgrade|quit|stop`: controlling the running instance named by the
//! config's pid file and control socket, the way `nginx -s` does.
//!
//! `reload` asks the running process, over its control socket, to reload in place
//! (`crate::generation`) and prints the one result line once the new configuration is in
//! force (or why it was refused; the running one keeps serving).
//!
//! `upgrade` (a new binary, or what cannot change in place) checks the config, starts a
//! new background process that waits for the listeners (`-d -u`), sends `SIGQUIT` to the
//! running one only once the new process is waiting on the upgrade socket, and reports
//! success once the new process holds the listeners. If the new process cannot start, the
//! running one is never signalled, keeps serving, and gets its pid file back; what the new
//! process printed is shown only then.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::assembly::App;

mod held_sockets;

/// What `-s` asks the running instance to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Action {
    /// Reload the (checked) config in place, in the running process.
    Reload,
    /// Start a new process on the (checked) config and hand the listeners over.
    Upgrade,
    /// Stop gracefully: finish the requests in flight, then exit (`SIGTERM`).
    Quit,
    /// Stop now (`SIGINT`).
    Stop,
}

/// Why a control action failed.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No pid file, or it does not hold a pid.
    #[error("no running instance: cannot read a pid from {path}: {why}")]
    NoPid {
        /// The pid file.
        path: PathBuf,
        /// What went wrong.
        why: String,
    },
    /// The pid file names a process that does not exist (or is not ours to signal).
    #[error("no running instance: process {pid} from {path} does not exist ({why})")]
    NotRunning {
        /// The pid read.
        pid: i32,
        /// The pid file.
        path: PathBuf,
        /// The OS error.
        why: std::io::Error,
    },
    /// The new process could not be started or did not take over.
    #[error("upgrade failed, the running instance (pid {old}) keeps serving: {why}")]
    ReloadFailed {
        /// The running instance.
        old: i32,
        /// What went wrong.
        why: String,
    },
    /// The new process took the listeners but did not report ready.
    #[error("upgrade: the new process did not become ready ({why}); see the error log")]
    NotReady {
        /// What went wrong.
        why: String,
    },
    /// The process could not be signalled.
    #[error("cannot signal process {pid}: {why}")]
    Signal {
        /// The process.
        pid: i32,
        /// The OS error.
        why: std::io::Error,
    },
    /// A reload in place was refused or could not be asked for; the running
    /// configuration keeps serving.
    #[error("{0}")]
    Refused(String),
    /// The process did not exit in time.
    #[error("process {pid} still running after {waited:?}")]
    StillRunning {
        /// The process.
        pid: i32,
        /// How long we waited.
        waited: Duration,
    },
}

/// How long the old process goes on accepting after SIGQUIT: pingora-core 0.9.1's
/// `CLOSE_TIMEOUT` (5 s, not configurable) after it sent its listeners, plus a margin for
/// the hand-over and for its accept loops to see the shutdown broadcast. Used only where
/// the old process's fd table cannot be read; otherwise `upgrade` waits until it closed
/// the listeners it handed over.
const OLD_ACCEPTS_FOR: Duration = Duration::from_millis(5_500);

/// How long `upgrade` waits for the new process to reach the upgrade socket.
const START_WAIT: Duration = Duration::from_secs(60);

/// Runs `action` against the instance whose pid file `app` names; `conf` (absolute) and
/// `prefix` are handed to a new process on reload. Returns a line to print on success.
pub fn run(
    action: Action,
    app: &App,
    conf: &Path,
    prefix: Option<&Path>,
) -> Result<String, ControlError> {
    let pid_file = &app.process.pid_file;
    let pid = running_pid(pid_file)?;
    match action {
        Action::Reload => crate::control_client::reload(pid, app, conf, prefix),
        Action::Upgrade => upgrade(pid, app, conf, prefix),
        Action::Quit => stop(pid, libc::SIGTERM, app.process.graceful_shutdown_timeout),
        Action::Stop => stop(pid, libc::SIGINT, Duration::from_secs(5)),
    }
}

/// The pid in `pid_file`, if that process exists.
pub fn running_pid(pid_file: &Path) -> Result<i32, ControlError> {
    let text = std::fs::read_to_string(pid_file).map_err(|e| ControlError::NoPid {
        path: pid_file.to_path_buf(),
        why: e.to_string(),
    })?;
    let pid: i32 = text.trim().parse().map_err(|_| ControlError::NoPid {
        path: pid_file.to_path_buf(),
        why: format!("{:?} is not a pid", text.trim()),
    })?;
    if pid <= 0 {
        return Err(ControlError::NoPid {
            path: pid_file.to_path_buf(),
            why: format!("{pid} is not a pid"),
        });
    }
    signal(pid, 0).map_err(|why| ControlError::NotRunning {
        pid,
        path: pid_file.to_path_buf(),
        why,
    })?;
    Ok(pid)
}

fn upgrade(
    old: i32,
    app: &App,
    conf: &Path,
    prefix: Option<&Path>,
) -> Result<String, ControlError> {
    let failed = |why: String| ControlError::ReloadFailed { old, why };
    let (sock, pid_file) = (&app.process.upgrade_sock, &app.process.pid_file);
    let stale = socket_inode(sock);
    let exe = std::env::current_exe().map_err(|e| failed(format!("own executable: {e}")))?;
    let mut cmd = Command::new(exe);
    cmd.args(["-d", "-u", "-c"]).arg(conf);
    if let Some(p) = prefix {
        cmd.arg("-p").arg(p);
    }
    // The foreground half exits once the background process is forked. What the new
    // process prints (its start-up log) is shown only when it fails: the log goes to the
    // error log, and a successful upgrade prints one line, as nginx.
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| failed(format!("cannot start a new process: {e}")))?;
    let said = collect(child.stderr.take());
    let status = child
        .wait()
        .map_err(|e| failed(format!("cannot start a new process: {e}")))?;
    let failed = |why: String| {
        let printed = said.lock().map(|s| s.clone()).unwrap_or_default();
        ControlError::ReloadFailed {
            old,
            why: match printed.trim().is_empty() {
                true => why,
                false => format!("{why}; it said:\n{}", printed.trim_end()),
            },
        }
    };
    if !status.success() {
        restore_pid_file(pid_file, old);
        return Err(failed(format!("the new process exited ({status})")));
    }
    // The new process binds the upgrade socket, then waits for the listeners.
    let deadline = Instant::now() + START_WAIT;
    let new = loop {
        let new = read_pid(pid_file).filter(|&p| p != old);
        if socket_inode(sock).is_some_and(|ino| Some(ino) != stale) {
            if let Some(new) = new {
                break new;
            }
        }
        let new_died = new.is_some_and(|p| !alive(p));
        if new_died || Instant::now() >= deadline {
            if let Some(p) = new {
                let _ = signal(p, libc::SIGINT);
            }
            restore_pid_file(pid_file, old);
            return Err(failed(match new_died {
                true => "the new process exited before taking over; see the error log".into(),
                false => format!(
                    "the new process did not reach {} within {START_WAIT:?}",
                    sock.display()
                ),
            }));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    signal(old, libc::SIGQUIT).map_err(|e| failed(format!("SIGQUIT to {old}: {e}")))?;
    let quit_sent = Instant::now();
    // The new process removes the socket once it holds the listeners.
    let deadline = Instant::now() + START_WAIT;
    while socket_inode(sock).is_some() {
        if !alive(new) {
            return Err(ControlError::NotReady {
                why: format!("process {new} exited while taking the listeners over"),
            });
        }
        if Instant::now() >= deadline {
            return Err(ControlError::NotReady {
                why: format!("process {new} still waiting after {START_WAIT:?}"),
            });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Pingora's old process keeps accepting for a fixed CLOSE_TIMEOUT (5 s) after sending
    // its listeners; only then its accept loops stop and close their listeners. Return once
    // it closed them all, so every connection made after the command returns is the new
    // process's. A fixed wait from the SIGQUIT was not enough: on a loaded machine the old
    // process sent its listeners, or saw its shutdown, later than any margin.
    let handed_over = held_sockets::shared(old, new);
    let deadline = Instant::now() + OLD_ACCEPTS_FOR + START_WAIT;
    let old_accepts = || match handed_over.is_empty() {
        // No fd table to read (another user, no /proc): the fixed wait is all there is.
        true => quit_sent.elapsed() < OLD_ACCEPTS_FOR,
        false => held_sockets::still_holds(old, &handed_over),
    };
    while old_accepts() && alive(old) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(format!("edgeproxy: upgraded: pid {old} → {new}"))
}

/// Reads `pipe` to its end on a thread of its own (a daemon may hold it open for long);
/// what was read so far is in the returned buffer.
fn collect(pipe: Option<std::process::ChildStderr>) -> std::sync::Arc<std::sync::Mutex<String>> {
    use std::io::Read;
    let buf = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    if let Some(mut pipe) = pipe {
        let out = buf.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                if let Ok(mut s) = out.lock() {
                    if s.len() < 64 * 1024 {
                        s.push_str(&String::from_utf8_lossy(&chunk[..n]));
                    }
                }
            }
        });
    }
    buf
}

/// The pid in `path`, if any.
fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Puts the running instance's pid back into the pid file a failed new process took over.
fn restore_pid_file(pid_file: &Path, old: i32) {
    if read_pid(pid_file) != Some(old) {
        let _ = std::fs::write(pid_file, format!("{old}\n"));
    }
    let _ = std::fs::remove_file(format!("{}.old", pid_file.display()));
}

fn stop(pid: i32, sig: i32, grace: Duration) -> Result<String, ControlError> {
    signal(pid, sig).map_err(|why| ControlError::Signal { pid, why })?;
    let waited = grace + Duration::from_secs(2);
    let deadline = Instant::now() + waited;
    while alive(pid) {
        if Instant::now() >= deadline {
            return Err(ControlError::StillRunning { pid, waited });
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(format!("edgeproxy: process {pid} stopped"))
}

/// True while `pid` exists and has not exited (a zombie waiting for its parent has).
fn alive(pid: i32) -> bool {
    let zombie = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, rest)| rest.trim_start().starts_with('Z'))
        })
        .unwrap_or(false);
    signal(pid, 0).is_ok() && !zombie
}

fn socket_inode(path: &Path) -> Option<u64> {
    std::fs::metadata(path)
        .ok()
        .filter(|m| m.file_type().is_socket())
        .map(|m| m.ino())
}

pub(crate) fn signal(pid: i32, sig: i32) -> Result<(), std::io::Error> {
    // SAFETY: kill(2) has no memory effects; invalid pids or signals return an error.
    match unsafe { libc::kill(pid, sig) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}
