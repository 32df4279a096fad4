//! Our consistent hash must map keys exactly like nginx's `hash $arg_x consistent`.
//! Runs the real nginx (Debian package; `make test` installs it).

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::wait::{retry_port_race, wait_ready, WaitError};
use crate::common::{free_port, port_open};
use edgeproxy::upstream::{GroupSpec, ServerSpec, UpstreamGroup};

const NGINX: &str = "/usr/sbin/nginx";

struct Nginx {
    child: Child,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// nginx with a front on `front` balancing over `servers`: (port, weight, down), each
/// answering its own port.
fn start_nginx(front: u16, servers: &[(u16, u32, bool)]) -> Result<Nginx, WaitError> {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let mut conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\n\
         error_log {d}/error.log warn;\nevents {{ worker_connections 1024; }}\nhttp {{\n\
         access_log off;\nclient_body_temp_path {d}/body;\nproxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fcgi;\nuwsgi_temp_path {d}/uwsgi;\nscgi_temp_path {d}/scgi;\n\
         upstream u {{\n  hash $arg_productId consistent;\n"
    );
    for (p, w, down) in servers {
        let down = if *down { " down" } else { "" };
        writeln!(conf, "  server 127.0.0.1:{p} weight={w}{down};").unwrap();
    }
    writeln!(
        conf,
        "}}\nserver {{ listen 127.0.0.1:{front}; location / {{ proxy_pass http://u; }} }}"
    )
    .unwrap();
    for (p, _, _) in servers {
        writeln!(
            conf,
            "server {{ listen 127.0.0.1:{p}; location / {{ return 200 \"{p}\"; }} }}"
        )
        .unwrap();
    }
    conf.push_str("}\n");
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let child = Command::new(NGINX)
        .arg("-p")
        .arg(dir.path())
        .arg("-e")
        .arg(dir.path().join("error.log"))
        .arg("-c")
        .arg(dir.path().join("nginx.conf"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ng = Nginx { child, _dir: dir };
    let front = SocketAddr::from(([127, 0, 0, 1], front));
    let what = format!("nginx to listen on {front}");
    wait_ready(&mut ng.child, &what, Duration::from_secs(10), || {
        port_open(front)
    })
    .map_err(|e| {
        let log = std::fs::read_to_string(ng._dir.path().join("error.log"));
        e.with(&log.unwrap_or_default())
    })?;
    Ok(ng)
}

fn our_group(servers: &[(u16, u32, bool)]) -> UpstreamGroup {
    let servers = servers
        .iter()
        .map(|&(p, weight, down)| ServerSpec {
            down,
            ..ServerSpec::new(SocketAddr::from(([127, 0, 0, 1], p))).weight(weight)
        })
        .collect();
    UpstreamGroup::new(
        GroupSpec::new("u", servers)
            .hashed("$arg_productId", None)
            .unwrap(),
    )
}

fn key(i: usize) -> String {
    match i % 3 {
        0 => format!("{}", i * 7919),
        1 => format!("sku-{i:06}"),
        _ => format!("{:x}{}", i * 2654435761usize, i % 7),
    }
}

#[test]
fn hash_consistent_mapping_matches_nginx_for_10000_keys() {
    assert!(
        Path::new(NGINX).exists(),
        "{NGINX} not found: install Debian's nginx (`apt-get install nginx`, or `make test`)"
    );
    // Fresh ports on every attempt: nginx exits when one was taken before it could bind.
    let (front, servers, _nginx) = retry_port_race("start nginx", || {
        let servers: Vec<(u16, u32, bool)> =
            [(1, false), (2, false), (3, false), (5, false), (2, true)]
                .iter()
                .map(|&(w, down)| (free_port(), w, down))
                .collect();
        let front = free_port();
        let nginx = start_nginx(front, &servers)?;
        Ok((front, servers, nginx))
    });
    let group = our_group(&servers);
    let client = reqwest::blocking::Client::builder()
        .pool_max_idle_per_host(1)
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut mismatches = Vec::new();
    let n = 10_000;
    for i in 0..n {
        let k = key(i);
        let resp = client
            .get(format!("http://127.0.0.1:{front}/?productId={k}"))
            .send()
            .unwrap();
        assert_eq!(resp.status(), 200);
        let port: u16 = resp.text().unwrap().parse().unwrap();
        let ours = group.select(Some(k.as_bytes()), &[]).unwrap().port();
        if ours != port {
            mismatches.push((k, port, ours));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {n} keys differ from nginx, e.g. {:?}",
        mismatches.len(),
        &mismatches[..mismatches.len().min(5)]
    );
}
