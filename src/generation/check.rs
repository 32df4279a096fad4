//! What a reload cannot change in place: what Pingora builds once when the process starts
//! (runtimes, listeners and their connection layer, the upgrade and pid files). A change
//! there is refused, naming the key, and taken with `edgeproxy -s upgrade`.

use crate::assembly::App;
use crate::config::{ConfigSpec, ListenSpec, ProcessSettings};

/// The first key whose change needs the process hand-over, as `[section] key: old → new`.
pub fn needs_upgrade(old: &App, new: &ConfigSpec) -> Option<String> {
    let p = new.process.clone().resolved(&new.base_dir);
    if let Some(key) = process_change(&old.process, &p) {
        return Some(key);
    }
    let old_names: Vec<&str> = old.servers.iter().map(|b| &*b.name).collect();
    let new_names: Vec<&str> = new.servers.iter().map(|b| b.name.as_str()).collect();
    if old_names != new_names {
        return Some(format!(
            "[[servers]]: the server blocks changed ({} → {}); each block is a listening \
             service",
            old_names.join(", "),
            new_names.join(", ")
        ));
    }
    let old_streams: Vec<_> = old
        .streams
        .iter()
        .map(|s| {
            (
                &s.spec.name,
                without_spans(&s.spec.listen),
                s.spec.max_connections,
            )
        })
        .collect();
    let new_streams: Vec<_> = new
        .streams
        .iter()
        .map(|s| (&s.name, without_spans(&s.listen), s.max_connections))
        .collect();
    if old_streams != new_streams {
        return Some(
            "[[streams]]: names, listen or max_connections (each block is a listening service)"
                .to_string(),
        );
    }
    for (o, n) in old.servers.iter().zip(&new.servers) {
        if without_spans(&o.listen_specs) != without_spans(&n.listen) {
            return Some(format!("[[servers]] `{}` listen", o.name));
        }
        let (a, b) = (o.conn, n.conn);
        let changed = [
            (
                "client_header_timeout",
                a.client_header_timeout != b.client_header_timeout,
            ),
            (
                "keepalive_timeout",
                a.keepalive_timeout != b.keepalive_timeout,
            ),
            (
                "client_body_timeout",
                a.client_body_timeout != b.client_body_timeout,
            ),
            ("max_connections", a.max_connections != b.max_connections),
            (
                "http2_max_concurrent_streams",
                a.http2_max_concurrent_streams != b.http2_max_concurrent_streams,
            ),
            ("lingering_time", a.lingering_time != b.lingering_time),
            (
                "lingering_timeout",
                a.lingering_timeout != b.lingering_timeout,
            ),
        ];
        if let Some((key, _)) = changed.iter().find(|(_, c)| *c) {
            return Some(format!("[[servers]] `{}` {key}", o.name));
        }
    }
    None
}

fn process_change(a: &ProcessSettings, b: &ProcessSettings) -> Option<String> {
    let changed = [
        ("threads", a.threads != b.threads),
        ("work_stealing", a.work_stealing != b.work_stealing),
        ("grace_period", a.grace_period != b.grace_period),
        (
            "graceful_shutdown_timeout",
            a.graceful_shutdown_timeout != b.graceful_shutdown_timeout,
        ),
        ("pid_file", a.pid_file != b.pid_file),
        ("upgrade_sock", a.upgrade_sock != b.upgrade_sock),
        ("control_sock", a.control_sock != b.control_sock),
        ("error_log", a.error_log != b.error_log),
        ("node_name", a.node_name != b.node_name),
    ];
    changed
        .iter()
        .find(|(_, c)| *c)
        .map(|(key, _)| format!("[server] {key}"))
}

fn without_spans(l: &[ListenSpec]) -> Vec<ListenSpec> {
    l.iter()
        .cloned()
        .map(|mut s| {
            s.span = None;
            s
        })
        .collect()
}
