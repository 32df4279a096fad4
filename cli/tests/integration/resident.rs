//! Start-up code out of memory (src/resident.rs): after start the process lets go of the
//! text pages start-up touched, and keeps answering, reloading and answering again — the
//! code comes back from the file as it runs.

use std::time::Duration;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::{client, wait_until};

/// Resident KiB of the process's executable, read-only mappings of its own file.
fn text_rss_kib(pid: u32) -> u64 {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe")).expect("exe");
    let exe = exe.to_string_lossy().into_owned();
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).expect("smaps");
    let mut ours = false;
    let mut total = 0;
    for line in smaps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.first() {
            Some(&"Rss:") if ours => total += f[1].parse::<u64>().unwrap_or(0),
            Some(k) if !k.ends_with(':') => {
                ours = f.get(1) == Some(&"r-xp") && f.get(5) == Some(&exe.as_str())
            }
            _ => {}
        }
    }
    total
}

fn config(body: &str) -> String {
    format!(
        r#"
[server]
pid_file = "{{dir}}/edgeproxy.pid"
upgrade_sock = "{{dir}}/upgrade.sock"

[[servers]]
name = "edge"
listen = ["{ANY_PORT}"]

[[servers.routes]]
path = "/"
plugins = [{{ name = "respond", config = {{ body = "{body}" }} }}]
"#
    )
}

#[test]
fn start_up_text_leaves_memory_and_the_process_keeps_serving_and_reloading() {
    let edge = Edge::start(&config("one"));
    let pid = edge.child.id();
    let at_start = text_rss_kib(pid);
    assert!(at_start > 0, "the binary's text is mapped");
    wait_until("start-up text dropped", Duration::from_secs(30), || {
        text_rss_kib(pid) * 2 < at_start
    })
    .unwrap_or_else(|e| panic!("{e}: {} KiB resident at start", at_start));
    let c = client();
    let url = format!("http://{}/", edge.addr());
    assert_eq!(c.get(&url).send().unwrap().text().unwrap(), "one");
    edge.reload_with(&config("two"));
    assert_eq!(c.get(&url).send().unwrap().text().unwrap(), "two");
}
