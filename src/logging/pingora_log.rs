//! Pingora logs through the `log` crate; its records reach the same output through a bridge
//! ([`PingoraLog`]) that passes them on unchanged, except for two known messages that
//! Pingora logs at ERROR although nothing is wrong with this proxy, which it passes on at a
//! lower level (the text is matched exactly, so a changed message is never hidden; it just
//! shows at ERROR again):
//!
//! - `failed to acquire reusable stream` (target `pingora_core::connectors`) → DEBUG. A
//!   benign race in Pingora's upstream connection pool (0.9): a pooled connection is handed
//!   out while the idle watcher still holds a reference to it, so it is closed and a new one
//!   is opened. No request fails; under load it happens hundreds of times a minute.
//! - `Fail to proxy: Downstream ConnectionClosed|ReadError|WriteError …` (target
//!   `pingora_proxy`) → INFO: the client went away while still sending its request headers
//!   (as nginx, which logs "client prematurely closed connection" at info). Later in a
//!   request the proxy logs the same at INFO itself, with the request id.
//! - `No incoming socket transfer, sleep 1s and try again` (target
//!   `pingora_core::server::transfer_fd`) → INFO: a new process (`-s reload`) waiting for the
//!   running one's listeners, which is the normal first second of every reload.
//! - `Downstream handshake error…` / `Downstream handshake timeout` (target
//!   `pingora_core::services::listening`) and `H2 handshake error…` (target
//!   `pingora_core::apps`) → INFO: a client that failed its TLS or HTTP/2 handshake
//!   (plaintext on a TLS port, TLS 1.0, no shared cipher, a scanner); nginx logs SSL
//!   handshake failures at info too.

use log::{Level, Log, Metadata, Record};
use tracing_log::LogTracer;

/// The `log` → `tracing` bridge, re-levelling Pingora's known false alarms (module docs).
pub struct PingoraLog(LogTracer);

impl PingoraLog {
    /// A bridge into the current `tracing` subscriber.
    pub fn new() -> Self {
        PingoraLog(LogTracer::new())
    }
}

impl Default for PingoraLog {
    fn default() -> Self {
        Self::new()
    }
}

impl Log for PingoraLog {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        // A record that may be re-levelled is decided on in `log`, at its new level.
        metadata.level() == Level::Error || self.0.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        match relevel(record) {
            Some(level) => self.0.log(
                &Record::builder()
                    .args(*record.args())
                    .level(level)
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            ),
            None => self.0.log(record),
        }
    }

    fn flush(&self) {}
}

/// The level a Pingora record should have instead of its own, if it is a known false alarm.
pub fn relevel(record: &Record<'_>) -> Option<Level> {
    if record.level() != Level::Error {
        return None;
    }
    match record.target() {
        "pingora_core::server::transfer_fd" => {
            // The new process waiting for the old one's listeners during a reload.
            let text = record.args().to_string();
            text.starts_with("No incoming socket transfer, sleep")
                .then_some(Level::Info)
        }
        "pingora_core::connectors" => {
            let text = record.args().to_string();
            (text == "failed to acquire reusable stream").then_some(Level::Debug)
        }
        "pingora_proxy" => {
            let text = record.args().to_string();
            let etype = text
                .strip_prefix("Fail to proxy: Downstream ")?
                .split(' ')
                .next()?;
            matches!(etype, "ConnectionClosed" | "ReadError" | "WriteError").then_some(Level::Info)
        }
        "pingora_core::services::listening" => {
            let text = record.args().to_string();
            text.starts_with("Downstream handshake ")
                .then_some(Level::Info)
        }
        "pingora_core::apps" => {
            let text = record.args().to_string();
            text.starts_with("H2 handshake error")
                .then_some(Level::Info)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn level(target: &str, level: Level, text: &str) -> Option<Level> {
        relevel(
            &Record::builder()
                .target(target)
                .level(level)
                .args(format_args!("{text}"))
                .build(),
        )
    }

    #[test]
    fn only_the_known_false_alarms_are_relevelled() {
        let pool = "pingora_core::connectors";
        let proxy = "pingora_proxy";
        assert_eq!(
            level(pool, Level::Error, "failed to acquire reusable stream"),
            Some(Level::Debug)
        );
        assert_eq!(
            level(
                "pingora_core::server::transfer_fd",
                Level::Error,
                "No incoming socket transfer, sleep 1s and try again"
            ),
            Some(Level::Info)
        );
        assert_eq!(
            level(proxy, Level::Error, "Fail to proxy: Downstream ConnectionClosed context: while reading request headers, bytes already read: 26, downstream session type: h1"),
            Some(Level::Info)
        );
        assert_eq!(
            level(
                "pingora_core::services::listening",
                Level::Error,
                "Downstream handshake error from 127.0.0.1:5000: TLSHandshakeFailure"
            ),
            Some(Level::Info)
        );
        assert_eq!(
            level(proxy, Level::Error, "Fail to proxy: Downstream ReadError cause: Connection reset by peer (os error 104), downstream session type: h1"),
            Some(Level::Info)
        );
        for (target, lvl, text) in [
            (pool, Level::Error, "failed to acquire reusable stream!"),
            (pool, Level::Warn, "failed to acquire reusable stream"),
            (
                "pingora_core::connectors::l4",
                Level::Error,
                "failed to acquire reusable stream",
            ),
            (
                proxy,
                Level::Error,
                "Fail to proxy: Upstream ConnectRefused context: ...",
            ),
            (
                proxy,
                Level::Error,
                "Fail to proxy: Downstream InvalidHTTPHeader context: ...",
            ),
            (
                proxy,
                Level::Error,
                "failed to send error response to downstream: ...",
            ),
            (
                "edgeproxy",
                Level::Error,
                "Fail to proxy: Downstream ConnectionClosed",
            ),
        ] {
            assert_eq!(level(target, lvl, text), None, "{target} {lvl} {text}");
        }
    }
}
