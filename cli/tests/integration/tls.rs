//! TLS listeners through the real binary and real clients (`curl`, `openssl s_client`):
//! SNI selection (exact, wildcard, unknown, none), TLS 1.2/1.3 only, bad clients (plaintext,
//! garbage, a handshake left half-way) leave the process serving others, HTTP/2 by ALPN,
//! live certificate reload under load with zero failed requests, a broken replacement
//! keeping the old pair, and `-t` reporting certificate problems at the listen entry.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::common::edge::{check_text, Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::wait_until;

use crate::common::certs::write_pair as pair;

/// An edge with one TLS listener serving `default`, `wild` and `shop` pairs (written in
/// its dir before it starts) in front of `origin`, then `extra_listen` entries; returns it
/// and the TLS address.
fn tls_edge(origin: &Origin, extra_listen: &str) -> (Edge, SocketAddr) {
    let addr = ANY_PORT;
    let dir = tempfile::tempdir().expect("tempdir");
    pair(dir.path(), "default", &["default.test"], 30);
    pair(dir.path(), "wild", &["*.example.com"], 30);
    pair(dir.path(), "shop", &["shop.example.com", "example.com"], 30);
    let cfg = format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = [
  {{ addr = "{addr}", tls = {{ certificates = [
      {{ cert = "default.crt", key = "default.key" }},
      {{ cert = "wild.crt", key = "wild.key" }},
      {{ cert = "shop.crt", key = "shop.key" }} ] }} }},
  {extra_listen}
]
[[servers.routes]]
path_prefix = "/"
upstream = "origin"
"#,
        origin = origin.addr
    );
    let edge = Edge::start_in(dir, "edgeproxy", &cfg);
    let addr = edge.addr();
    (edge, addr)
}

/// The subject CN of the certificate served for `sni` (`None`: no SNI sent).
fn served_cn(addr: SocketAddr, sni: Option<&str>) -> String {
    let mut cmd = Command::new("openssl");
    cmd.args(["s_client", "-connect", &addr.to_string()]);
    match sni {
        Some(name) => cmd.args(["-servername", name]),
        None => cmd.arg("-noservername"),
    };
    let out = cmd
        .stdin(std::process::Stdio::null())
        .output()
        .expect("openssl s_client");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("subject=CN = "))
        .map(str::to_string)
        .unwrap_or_else(|| format!("<no certificate: {text}>"))
}

/// `curl -k` with `args`; returns (exit code, stdout).
fn curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl")
        .args(["-sk", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn sni_picks_exact_then_wildcard_then_the_default() {
    let origin = Origin::start();
    let (_edge, addr) = tls_edge(&origin, "");
    assert_eq!(
        served_cn(addr, Some("shop.example.com")),
        "shop.example.com"
    );
    assert_eq!(served_cn(addr, Some("example.com")), "shop.example.com");
    assert_eq!(served_cn(addr, Some("a.example.com")), "*.example.com");
    assert_eq!(served_cn(addr, Some("a.b.example.com")), "default.test");
    assert_eq!(served_cn(addr, Some("unknown.test")), "default.test");
    assert_eq!(served_cn(addr, None), "default.test");
    // A request goes through, with the SNI name as Host.
    let url = format!("https://shop.example.com:{}/p?x=1", addr.port());
    let resolve = format!("shop.example.com:{}:127.0.0.1", addr.port());
    let (code, _) = curl(&["--resolve", &resolve, "-o", "/dev/null", &url]);
    assert_eq!(code, 0);
    assert!(origin.hits_for("/p?x=1") >= 1);
}

#[test]
fn only_tls_1_2_and_1_3_and_bad_clients_do_not_hurt_others() {
    let origin = Origin::start();
    let (edge, addr) = tls_edge(&origin, "");
    let s_client = |flag: &str| {
        Command::new("openssl")
            .args(["s_client", "-connect", &addr.to_string(), flag])
            .stdin(std::process::Stdio::null())
            .output()
            .expect("openssl")
            .stdout
    };
    let proto = |flag| {
        let out = String::from_utf8_lossy(&s_client(flag)).into_owned();
        out.lines()
            .find_map(|l| l.trim().strip_prefix("Protocol  : ").map(str::to_string))
            .or_else(|| {
                out.lines()
                    .find_map(|l| l.strip_prefix("New, ").map(str::to_string))
            })
            .unwrap_or_default()
    };
    assert!(proto("-tls1_3").contains("TLSv1.3"), "{}", proto("-tls1_3"));
    assert!(proto("-tls1_2").contains("TLSv1.2"), "{}", proto("-tls1_2"));
    for old in ["-tls1_1", "-tls1"] {
        let out = String::from_utf8_lossy(&s_client(old)).into_owned();
        assert!(
            out.contains("Cipher is (NONE)"),
            "{old} was accepted:\n{out}"
        );
    }
    // Plaintext HTTP and garbage on the TLS port: closed, nothing served.
    for junk in [
        &b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        &[0x16, 0x03, 0x01, 0xff, 0xff, 0, 1, 2][..],
    ] {
        let mut s = TcpStream::connect(addr).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("timeout");
        s.write_all(junk).expect("write");
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(!String::from_utf8_lossy(&buf).contains("HTTP/1.1 200"));
    }
    // Handshakes left half-way stay open on their own; other clients are served meanwhile.
    let _stalled: Vec<TcpStream> = (0..20)
        .map(|_| {
            let mut s = TcpStream::connect(addr).expect("connect");
            s.write_all(&[0x16, 0x03, 0x01, 0x00, 0x50])
                .expect("partial hello");
            s
        })
        .collect();
    let url = format!("https://127.0.0.1:{}/ok", addr.port());
    let (code, _) = curl(&["-o", "/dev/null", &url]);
    assert_eq!(code, 0, "a good client after bad ones\n{}", edge.stderr());
    assert!(
        !edge.stderr().contains(" ERROR "),
        "handshake failures are the client's, logged below error:\n{}",
        edge.stderr()
    );
}

#[test]
fn http2_by_alpn_and_h2c_on_plain_listeners_that_ask_for_it() {
    let origin = Origin::start();
    let (h2c, plain) = (ANY_PORT, ANY_PORT);
    let extra = format!(r#"{{ addr = "{h2c}", http2 = true }}, "{plain}""#);
    let (edge, addr) = tls_edge(&origin, &extra);
    let [_, h2c, plain] = edge.listening::<3>().map(|a| a.port());
    let version = |args: &[&str]| {
        let mut all = vec!["-o", "/dev/null", "-w", "%{http_version} %{http_code}"];
        all.extend_from_slice(args);
        curl(&all).1
    };
    let tls = format!("https://127.0.0.1:{}/a", addr.port());
    assert_eq!(version(&["--http2", &tls]), "2 200");
    assert_eq!(version(&["--http1.1", &tls]), "1.1 200");
    let h2c_url = format!("http://127.0.0.1:{h2c}/b");
    assert_eq!(version(&["--http2-prior-knowledge", &h2c_url]), "2 200");
    assert_eq!(version(&["--http1.1", &h2c_url]), "1.1 200");
    // HTTP/1.0 shorter than the HTTP/2 preface is not waited on.
    let mut s = TcpStream::connect(("127.0.0.1", h2c)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    s.write_all(b"GET /c HTTP/1.0\r\n\r\n").expect("write");
    let mut buf = Vec::new();
    let _ = s.read_to_end(&mut buf);
    assert!(String::from_utf8_lossy(&buf).starts_with("HTTP/1.1 200"));
    // A plain listener without `http2` does not speak h2c.
    let plain_url = format!("http://127.0.0.1:{plain}/d");
    assert_ne!(version(&["--http2-prior-knowledge", &plain_url]), "2 200");
    assert!(origin.hits_for("/b") >= 1 && origin.hits_for("/a") >= 2);
}

#[test]
fn replaced_certificates_switch_new_handshakes_without_failures() {
    let origin = Origin::start();
    let (edge, addr) = tls_edge(&origin, "");
    assert_eq!(served_cn(addr, None), "default.test");
    // Load: new connections (full handshakes) in a loop while the files change.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let url = format!("https://127.0.0.1:{}/load", addr.port());
    let clients: Vec<_> = (0..2)
        .map(|_| {
            let (stop, ok, failed, url) = (stop.clone(), ok.clone(), failed.clone(), url.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    match curl(&["-o", "/dev/null", "-w", "%{http_code}", &url]) {
                        (0, code) if code == "200" => ok.fetch_add(1, Ordering::Relaxed),
                        _ => failed.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    // Replace by rename (as certbot and cert-manager do): key first, then certificate.
    let dir = edge.dir.path();
    pair(dir, "next", &["renewed.test"], 90);
    std::fs::rename(dir.join("next.key"), dir.join("default.key")).expect("key");
    std::fs::rename(dir.join("next.crt"), dir.join("default.crt")).expect("cert");
    wait_until("the renewed certificate", Duration::from_secs(10), || {
        served_cn(addr, None) == "renewed.test"
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
    // A broken replacement: the renewed pair stays.
    std::fs::write(
        dir.join("default.crt"),
        "-----BEGIN CERTIFICATE-----\ngarbage\n",
    )
    .expect("write");
    wait_until("the failed reload logged", Duration::from_secs(10), || {
        edge.stderr().contains("certificate not reloaded")
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", edge.stderr()));
    assert_eq!(served_cn(addr, None), "renewed.test");
    std::thread::sleep(Duration::from_millis(500)); // kept: load keeps running past the swap
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().expect("client");
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    assert!(ok > 10, "only {ok} requests");
    assert_eq!(failed, 0, "{failed} of {} requests failed", ok + failed);
}

#[test]
fn check_reports_certificate_problems_at_the_listen_entry() {
    let dir = tempfile::tempdir().expect("tempdir");
    pair(dir.path(), "good", &["good.test"], 30);
    pair(dir.path(), "other", &["other.test"], 30);
    pair(dir.path(), "old", &["old.test"], -1);
    pair(dir.path(), "soon", &["soon.test"], 5);
    let cfg = |cert: &str, key: &str| {
        format!(
            r#"[upstreams.o]
servers = [{{ addr = "127.0.0.1:9" }}]

[[servers]]
listen = [
  "127.0.0.1:18080",
  {{ addr = "127.0.0.1:18443", tls = {{ certificates = [{{ cert = "{d}/{cert}", key = "{d}/{key}" }}] }} }},
]
[[servers.routes]]
path_prefix = "/"
upstream = "o"
"#,
            d = dir.path().display()
        )
    };
    let at_entry = |c: &crate::common::edge::Checked| c.stderr.contains("bad.toml:7:3: error:");
    let mismatch = check_text(&cfg("good.crt", "other.key"));
    assert_eq!(mismatch.code, Some(1));
    assert!(
        at_entry(&mismatch) && mismatch.stderr.contains("does not match"),
        "{}",
        mismatch.stderr
    );
    let expired = check_text(&cfg("old.crt", "old.key"));
    assert!(
        at_entry(&expired) && expired.stderr.contains("expired"),
        "{}",
        expired.stderr
    );
    let missing = check_text(&cfg("nope.crt", "good.key"));
    assert!(
        at_entry(&missing) && missing.stderr.contains("cannot read"),
        "{}",
        missing.stderr
    );
    let soon = check_text(&cfg("soon.crt", "soon.key"));
    assert_eq!(soon.code, Some(0), "{}", soon.stderr);
    assert!(
        soon.stderr.contains(":7:3: warning:")
            && (soon.stderr.contains("expires in 4days 23h")
                || soon.stderr.contains("expires in 5days")),
        "{}",
        soon.stderr
    );
    let unknown =
        check_text(&cfg("good.crt", "good.key").replace("tls = {", "tls = { ciphers = \"x\","));
    assert!(
        unknown.stderr.contains("unknown key `ciphers`"),
        "{}",
        unknown.stderr
    );
}
