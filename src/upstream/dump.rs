//! The dump file: the last member set read from Consul, loaded at start when Consul is down.
//!
//! Format (what nginx-upsync-module writes, usable as an nginx `include`):
//! ```text
//! # edgeproxy upstream dump for group "app"; loaded when Consul is unreachable
//! server 10.0.0.1:8080 weight=1 max_fails=2 fail_timeout=10s;
//! server 10.0.0.2:8080 weight=2 max_fails=2 fail_timeout=10s down;
//! server 10.0.0.3:8080 weight=1 max_fails=0 fail_timeout=10s backup;
//! ```
//! Written atomically (temporary file in the same directory, then rename) and only when the
//! content changes.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use super::spec::ServerSpec;
use super::upsync::{default_server, NodeError};

/// Renders `servers` in the dump format.
pub fn render(group: &str, servers: &[ServerSpec]) -> String {
    let mut out = format!(
        "# edgeproxy upstream dump for group {group:?}; loaded when Consul is unreachable\n"
    );
    for s in servers {
        out.push_str(&format!(
            "server {} weight={} max_fails={} fail_timeout={}s{}{};\n",
            s.addr,
            s.weight,
            s.max_fails,
            s.fail_timeout.as_secs(),
            if s.down { " down" } else { "" },
            if s.backup { " backup" } else { "" },
        ));
    }
    out
}

/// Writes the dump if its content differs from the file's. Returns whether it wrote.
pub fn write_if_changed(path: &Path, group: &str, servers: &[ServerSpec]) -> std::io::Result<bool> {
    let text = render(group, servers);
    if std::fs::read_to_string(path).is_ok_and(|old| old == text) {
        return Ok(false);
    }
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("dump");
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| true)
}

/// Reads a dump file. Bad lines are logged and skipped.
pub fn load(path: &Path) -> std::io::Result<Vec<ServerSpec>> {
    let text = std::fs::read_to_string(path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match parse_line(line) {
            Ok(s) => out.push(s),
            Err(e) => {
                tracing::warn!(file = %path.display(), line = n + 1, "skipping dump line: {e}")
            }
        }
    }
    Ok(out)
}

fn parse_line(line: &str) -> Result<ServerSpec, NodeError> {
    let syntax = |what: &str| NodeError::Syntax(what.to_string());
    let body = line
        .strip_prefix("server ")
        .and_then(|l| l.strip_suffix(';'))
        .ok_or_else(|| syntax("expected `server <ip>:<port> ...;`"))?;
    let mut words = body.split_whitespace();
    let addr = words
        .next()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| syntax("expected `<ip>:<port>` after `server`"))?;
    let mut s = default_server(addr);
    for w in words {
        let bad = || NodeError::Syntax(format!("bad parameter `{w}`"));
        match w.split_once('=') {
            Some(("weight", v)) => s.weight = v.parse().map_err(|_| bad())?,
            Some(("max_fails", v)) => s.max_fails = v.parse().map_err(|_| bad())?,
            Some(("fail_timeout", v)) => {
                s.fail_timeout = humantime::parse_duration(v)
                    .or_else(|_| v.parse().map(Duration::from_secs))
                    .map_err(|_| bad())?
            }
            None if w == "down" => s.down = true,
            None if w == "backup" => s.backup = true,
            _ => return Err(bad()),
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_write_only_on_change() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("g.dump");
        let mut a = crate::upstream::upsync::parse_node("10.0.0.1:80", None).unwrap();
        a.weight = 3;
        let mut b = crate::upstream::upsync::parse_node("[::1]:81", None).unwrap();
        b.down = true;
        b.backup = true;
        b.fail_timeout = Duration::from_secs(7);
        let set = vec![a, b];
        assert!(write_if_changed(&path, "g", &set).unwrap());
        assert!(!write_if_changed(&path, "g", &set).unwrap());
        assert_eq!(load(&path).unwrap(), set);
        assert!(write_if_changed(&path, "g", &set[..1]).unwrap());
        assert_eq!(load(&path).unwrap(), &set[..1]);
        std::fs::write(&path, "server 10.0.0.9:1 weight=x;\nserver 10.0.0.8:1;\n").unwrap();
        assert_eq!(load(&path).unwrap().len(), 1);
        assert!(load(&dir.path().join("missing")).is_err());
        let leftovers = std::fs::read_dir(dir.path()).unwrap().count();
        assert_eq!(leftovers, 1, "no temporary files left behind");
    }
}
