//! `edgeproxy -s reload`: asks the running process over its control socket
//! (`crate::server::ControlSocket`) to reload in place, and waits for the answer.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;

use crate::assembly::App;
use crate::control::ControlError;
use crate::server::control_sock::{Answer, Request};

/// How long a reload may take before the command gives up waiting (the reload goes on).
const ANSWER_WAIT: Duration = Duration::from_secs(120);

/// Reloads process `pid` in place from `conf`; the one line to print on success.
pub fn reload(
    pid: i32,
    app: &App,
    conf: &Path,
    prefix: Option<&Path>,
) -> Result<String, ControlError> {
    let sock = &app.process.control_sock;
    let refused = |why: String| ControlError::Refused(why);
    let mut stream = UnixStream::connect(sock).map_err(|e| {
        refused(format!(
            "cannot reach process {pid} on its control socket {}: {e} (is it running with \
             this config? `edgeproxy -s upgrade` starts a new process instead)",
            sock.display()
        ))
    })?;
    let _ = stream.set_read_timeout(Some(ANSWER_WAIT));
    let request = Request {
        action: "reload".into(),
        conf: Some(conf.to_path_buf()),
        prefix: prefix.map(Path::to_path_buf),
    };
    let mut line = serde_json::to_string(&request).map_err(|e| refused(e.to_string()))?;
    line.push('\n');
    stream
        .write_all(line.as_bytes())
        .map_err(|e| refused(format!("control socket {}: {e}", sock.display())))?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .map_err(|e| refused(format!("no answer from process {pid}: {e}")))?;
    let answer: Answer = serde_json::from_str(answer.trim())
        .map_err(|e| refused(format!("unreadable answer from process {pid}: {e}")))?;
    if !answer.ok {
        let why = answer.error.unwrap_or_else(|| "no reason given".into());
        return Err(refused(format!(
            "reload refused, generation {} keeps serving:\n{why}",
            answer.generation
        )));
    }
    Ok(format!(
        "edgeproxy: reloaded in place: generation {} in force (pid {pid}; {} parts kept, {} built, {} ms)",
        answer.generation,
        answer.kept.len(),
        answer.built.len(),
        answer.took_ms
    ))
}
