//! Waiting on conditions, never on time alone. Every wait has a deadline and, when it
//! passes, an error naming what was awaited and for how long; callers `unwrap` it or add
//! context (such as a process's stderr) with `unwrap_or_else(|e| panic!(...))`.

use std::fmt;
use std::future::Future;
use std::process::{Child, ExitStatus};
use std::time::{Duration, Instant};

/// How often a condition is polled.
const POLL: Duration = Duration::from_millis(10);

/// Why a wait ended without its condition.
pub enum WaitError {
    /// The deadline passed.
    TimedOut(String),
    /// The process being waited on exited first.
    Exited(String),
}

impl WaitError {
    /// The same error with `context` (e.g. a log) appended to its message.
    pub fn with(self, context: &str) -> WaitError {
        match self {
            WaitError::TimedOut(m) => WaitError::TimedOut(format!("{m}: {context}")),
            WaitError::Exited(m) => WaitError::Exited(format!("{m}: {context}")),
        }
    }
}

impl fmt::Display for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WaitError::TimedOut(m) | WaitError::Exited(m) => f.write_str(m),
        }
    }
}

impl fmt::Debug for WaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A deadline for awaiting `what`.
struct Deadline<'a> {
    what: &'a str,
    timeout: Duration,
    end: Instant,
}

impl<'a> Deadline<'a> {
    fn new(what: &'a str, timeout: Duration) -> Self {
        let end = Instant::now() + timeout;
        Deadline { what, timeout, end }
    }

    fn check(&self) -> Result<(), WaitError> {
        if Instant::now() < self.end {
            return Ok(());
        }
        let (what, timeout) = (self.what, self.timeout);
        Err(WaitError::TimedOut(format!(
            "timed out after {timeout:?} waiting for {what}"
        )))
    }
}

/// Polls `cond` until it is true; fails once `timeout` has passed.
pub fn wait_until(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> Result<(), WaitError> {
    let deadline = Deadline::new(what, timeout);
    while !cond() {
        deadline.check()?;
        std::thread::sleep(POLL);
    }
    Ok(())
}

/// [`wait_until`] for async tests: polls an async condition without blocking the runtime.
pub async fn eventually<F, Fut>(what: &str, timeout: Duration, mut cond: F) -> Result<(), WaitError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Deadline::new(what, timeout);
    while !cond().await {
        deadline.check()?;
        tokio::time::sleep(POLL).await;
    }
    Ok(())
}

/// Waits until `ready()` while `child` keeps running; fails with [`WaitError::Exited`] as
/// soon as the process exits (e.g. it lost its port to another program).
pub fn wait_ready(
    child: &mut Child,
    what: &str,
    timeout: Duration,
    mut ready: impl FnMut() -> bool,
) -> Result<(), WaitError> {
    let mut exited = None;
    wait_until(what, timeout, || {
        exited = child.try_wait().ok().flatten();
        exited.is_some() || ready()
    })?;
    match exited {
        Some(status) => Err(WaitError::Exited(format!(
            "process exited ({status}) before {what}"
        ))),
        None => Ok(()),
    }
}

/// Waits until `child` exits and returns its status.
pub fn wait_exit(child: &mut Child, timeout: Duration) -> Result<ExitStatus, WaitError> {
    let mut status = None;
    wait_until("the process to exit", timeout, || {
        status = child.try_wait().ok().flatten();
        status.is_some()
    })?;
    Ok(status.expect("set when the wait ends"))
}

/// Runs `start` (which picks its own free ports) again while it fails because its process
/// exited, which is how a server that lost a port race between probe and bind shows up.
pub fn retry_port_race<T>(what: &str, mut start: impl FnMut() -> Result<T, WaitError>) -> T {
    let mut last = None;
    for _ in 0..5 {
        match start() {
            Ok(t) => return t,
            Err(e @ WaitError::Exited(_)) => last = Some(e),
            Err(e) => panic!("{what}: {e}"),
        }
    }
    panic!("{what}: gave up after 5 attempts: {last:?}")
}
