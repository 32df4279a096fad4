//! The quickstart (`conf/edgeproxy.toml`, as `make run` starts it, on free ports) loaded in
//! headless Chromium over HTTPS and HTTP/2: the self-signed certificate is generated at the
//! first start, the product page renders, and the access log shows the request came over
//! HTTP/2 from Chromium.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::common::edge::Edge;
use crate::common::{free_port, wait_until};

/// Copies `from` into `to` (files and folders, recursively), leaving out `tls/`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read conf") {
        let entry = entry.expect("entry");
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if entry.file_name() == "tls" {
            continue;
        }
        if src.is_dir() {
            copy_dir(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).expect("copy");
        }
    }
}

/// The quickstart config in `dir`, every `127.0.0.1:PORT` moved to a free port, the pid
/// file and upgrade socket into `dir`, the distribution tier's access log into a file.
/// Returns the config text and the port map.
fn quickstart_in(dir: &Path) -> (String, BTreeMap<u16, u16>) {
    let conf = crate::common::repo_path("conf");
    copy_dir(&conf, dir);
    let mut text = std::fs::read_to_string(dir.join("edgeproxy.toml")).expect("read");
    let re = regex::Regex::new(r"127\.0\.0\.1:(\d{4,5})").expect("regex");
    let mut ports = BTreeMap::new();
    for cap in re.captures_iter(&text.clone()) {
        let port: u16 = cap[1].parse().expect("port");
        ports.entry(port).or_insert_with(free_port);
    }
    text = re
        .replace_all(&text, |c: &regex::Captures| {
            format!("127.0.0.1:{}", ports[&c[1].parse::<u16>().expect("port")])
        })
        .into_owned();
    let d = dir.display();
    text = text
        .replace("/tmp/edgeproxy.pid", &format!("{d}/edgeproxy.pid"))
        .replace("/tmp/edgeproxy_upgrade.sock", &format!("{d}/upgrade.sock"))
        .replacen(
            r#"config = { path = "-" }"#,
            &format!(r#"config = {{ path = "{d}/access.log", format = "combined" }}"#),
            1,
        );
    (text, ports)
}

#[test]
fn chromium_loads_the_quickstart_page_over_https_and_http2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let conf_dir = dir.path().to_path_buf();
    let (text, ports) = quickstart_in(&conf_dir);
    let https = SocketAddr::from(([127, 0, 0, 1], ports[&8443]));
    let mut edge = Edge::spawn_in(dir, "edgeproxy", &text, &[]);
    edge.wait_listening(&[https])
        .unwrap_or_else(|e| panic!("quickstart did not start: {e}\n{}", edge.stderr()));
    assert!(
        conf_dir.join("tls/quickstart.crt").exists(),
        "certificate generated at first start"
    );

    let url = format!(
        "https://127.0.0.1:{}/product?productId=1&shopId=1",
        https.port()
    );
    let profile = tempfile::tempdir().expect("profile");
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-first-run",
            "--ignore-certificate-errors",
            "--timeout=10000",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(&url)
        .output()
        .expect("run chromium (Debian package `chromium`; `make test` installs it)");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert!(
        dom.contains("<h1>Apple iPhone 15 (128 GB)</h1>"),
        "page not rendered in Chromium:\n{dom}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = edge.path("access.log");
    wait_until(
        "Chromium's request in the access log",
        Duration::from_secs(5),
        || {
            std::fs::read_to_string(&log).is_ok_and(|l| {
                l.lines().any(|line| {
                    line.contains("/product?productId=1&shopId=1 HTTP/2.0\" 200")
                        && line.contains("HeadlessChrome")
                })
            })
        },
    )
    .unwrap_or_else(|e| panic!("{e}\n{}", std::fs::read_to_string(&log).unwrap_or_default()));
}
