//! `ip-restriction` through the real binary: clients on 127.0.0.1 and 127.0.0.2 (both
//! loopback, so a test can be either), inline lists, a deny file that reloads on change
//! (a broken edit keeps the last good list, logged once), and `-t` errors at the bad CIDR.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use crate::common::edge::{check_text, Edge, ANY_PORT};
use crate::common::{get_from, replace_file, wait_until};

fn config(listen: SocketAddr, deny_file: &Path) -> String {
    format!(
        r#"
[[servers]]
listen = ["{listen}"]

[[servers.routes]]
path = "/office"
plugins = [
  {{ name = "ip-restriction", config = {{ allow = ["127.0.0.1", "10.0.0.0/8"] }} }},
  {{ name = "respond", config = {{ body = "ok" }} }},
]

[[servers.routes]]
path = "/file"
plugins = [
  {{ name = "ip-restriction", config = {{ deny_file = "{deny}", check_every = "50ms", status = 451, message = "blocked here" }} }},
  {{ name = "respond", config = {{ body = "ok" }} }},
]
"#,
        deny = deny_file.display()
    )
}

#[test]
fn allow_and_deny_lists_and_a_reloading_deny_file() {
    let dir = tempfile::tempdir().unwrap();
    let deny = dir.path().join("deny.txt");
    std::fs::write(&deny, "# bad actors\n127.0.0.2/32\n").unwrap();
    let edge = Edge::start(&config(ANY_PORT, &deny));
    let listen = edge.addr();
    const ONE: [u8; 4] = [127, 0, 0, 1];
    const TWO: [u8; 4] = [127, 0, 0, 2];

    assert_eq!(get_from(listen, ONE, "/office", &[]), (200, "ok".into()));
    assert_eq!(
        get_from(listen, TWO, "/office", &[]),
        (403, "403 Forbidden\n".into())
    );
    assert_eq!(get_from(listen, ONE, "/file", &[]), (200, "ok".into()));
    assert_eq!(
        get_from(listen, TWO, "/file", &[]),
        (451, "blocked here".into())
    );

    // The file changes: .1 is denied now, .2 is not.
    replace_file(&deny, "127.0.0.1\n");
    wait_until("the new deny list", Duration::from_secs(10), || {
        get_from(listen, ONE, "/file", &[]).0 == 451
    })
    .unwrap();
    assert_eq!(get_from(listen, TWO, "/file", &[]).0, 200);

    // A broken edit keeps the last good list and is logged once.
    replace_file(&deny, "127.0.0.2\n127.0.0.300\n");
    // (Files are looked at on the request path: each poll sends one.)
    wait_until(
        "the broken file to be seen",
        Duration::from_secs(10),
        || {
            get_from(listen, TWO, "/file", &[]);
            edge.stderr().contains("not reloaded")
        },
    )
    .unwrap();
    for _ in 0..5 {
        assert_eq!(get_from(listen, ONE, "/file", &[]).0, 451);
        assert_eq!(get_from(listen, TWO, "/file", &[]).0, 200);
        std::thread::sleep(Duration::from_millis(60));
    }
    let stderr = edge.stderr();
    assert_eq!(stderr.matches("not reloaded").count(), 1, "{stderr}");
    assert!(
        stderr.contains("deny.txt:2: invalid CIDR `127.0.0.300`"),
        "{stderr}"
    );
}

#[test]
fn a_bad_cidr_is_a_config_error_at_its_position() {
    let text = r#"[[servers]]
listen = ["127.0.0.1:1"]

[[servers.routes]]
path = "/"
plugins = [
  { name = "ip-restriction", config = { deny = ["10.0.0.0/8", "10.0.0.300/8"] } },
  { name = "ip-restriction", config = { allow = ["192.168.1.1/24"] } },
]
"#;
    let checked = check_text(text);
    assert_eq!(checked.code, Some(1), "{}", checked.stderr);
    let p = checked.path.display();
    assert!(
        checked.stderr.contains(&format!(
            "{p}:7:63: error: plugin `ip-restriction`: invalid CIDR `10.0.0.300/8`"
        )),
        "{}",
        checked.stderr
    );
    assert!(
        checked.stderr.contains(&format!("{p}:8:50: error: plugin `ip-restriction`: invalid CIDR `192.168.1.1/24`: host bits are set below the prefix (did you mean `192.168.1.0/24`?)")),
        "{}",
        checked.stderr
    );
}
