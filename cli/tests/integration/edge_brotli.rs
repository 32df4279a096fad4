//! Compressed bodies well past 16 KiB, checked by strict decoders: the Debian `brotli`,
//! `gzip` and `zstd` command line tools read the bytes as they crossed the wire (curl
//! without `--compressed`), and must find a complete stream with nothing after it; `curl
//! --compressed` must deliver the whole page. Over HTTP/1.1 and HTTP/2 (h2c), proxied and
//! local answers alike. Pingora 0.9.1's brotli encoder never wrote the stream's last block:
//! `brotli -t` refused every `br` body and curl stopped after 16,384 bytes with exit 0.

use std::io::Write;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use crate::common::curl::curl;
use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;

/// About 190 KB of HTML that compresses well but not trivially.
fn page() -> String {
    let mut s = String::from("<!doctype html><html><body>\n");
    let mut i: u64 = 0;
    while s.len() < 190_000 {
        s.push_str(&format!(
            "<p class=\"row\" data-n=\"{}\">row {i}: the quick brown fox {}</p>\n",
            i * 7919 % 10007,
            i * i % 977
        ));
        i += 1;
    }
    s + "</body></html>\n"
}

struct Env {
    h1: SocketAddr,
    h2c: SocketAddr,
    _origin: Origin,
    _edge: Edge,
}

fn setup() -> Env {
    let origin = Origin::builder()
        .route_with(
            "/page.html",
            200,
            &[("Content-Type", "text/html; charset=utf-8")],
            &page(),
        )
        .start();
    let (h1, h2c) = (ANY_PORT, ANY_PORT);
    // A local answer as large: the content phase's body goes through the same encoders.
    let local = page().replace('\n', " ").replace('"', "'");
    let config = format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[[servers]]
listen = ["{h1}", {{ addr = "{h2c}", http2 = true }}]
compression = {{ min_length = 256 }}

[[servers.routes]]
path = "/local"
plugins = [{{ name = "respond", config = {{ body = "{local}", headers = {{ "content-type" = "text/html" }} }} }}]

[[servers.routes]]
path_prefix = "/"
upstream = "origin"
"#,
        origin = origin.addr,
    );
    let edge = Edge::start(&config);
    let [h1, h2c] = edge.listening();
    Env {
        h1,
        h2c,
        _origin: origin,
        _edge: edge,
    }
}

/// Runs `tool args` with `input` on stdin: (exit success, stdout, stderr).
fn run(tool: &str, args: &[&str], input: &[u8]) -> (bool, Vec<u8>, String) {
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {tool} (Debian package `{tool}`): {e}"));
    let mut stdin = child.stdin.take().unwrap();
    let data = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&data);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (
        out.status.success(),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Decodes `body` with the coding's own command line tool, strictly: `-t` (test) must pass
/// and `-d` must give back `want`.
fn strict_decode(coding: &str, body: &[u8], want: &str, what: &str) {
    let tool = match coding {
        "br" => "brotli",
        other => other, // gzip, zstd
    };
    let (ok, _, err) = run(tool, &["-t"], body);
    assert!(ok, "{what}: `{tool} -t` refuses the {coding} body: {err}");
    let (ok, out, err) = run(tool, &["-d", "-c"], body);
    assert!(ok, "{what}: `{tool} -d` fails: {err}");
    assert!(
        out == want.as_bytes(),
        "{what}: {coding} decodes to {} bytes, want {}",
        out.len(),
        want.len()
    );
}

#[test]
fn every_coding_is_a_complete_stream_over_http1_and_http2() {
    let env = setup();
    let page = page();
    let local = page.replace('\n', " ").replace('"', "'");
    for (listen, proto) in [(env.h1, "--http1.1"), (env.h2c, "--http2-prior-knowledge")] {
        for (path, want) in [("/page.html", &page), ("/local", &local)] {
            let url = format!("http://{listen}{path}");
            for coding in ["br", "gzip", "zstd"] {
                let what = format!("{proto} {path} {coding}");
                let ae = format!("accept-encoding: {coding}");
                let r = curl(&[proto, "-H", &ae], &url);
                assert_eq!(r.status, 200, "{what}");
                assert_eq!(r.header("content-encoding"), Some(coding), "{what}");
                assert!(r.body.len() * 4 < want.len(), "{what}: {}", r.body.len());
                strict_decode(coding, &r.body, want, &what);
            }
            // curl's own decoders, as a browser would ask (br first).
            let r = curl(&[proto, "--compressed"], &url);
            assert_eq!(r.header("content-encoding"), Some("br"), "{proto} {path}");
            assert_eq!(
                r.body.len(),
                want.len(),
                "{proto} {path}: curl --compressed"
            );
            assert!(r.body == want.as_bytes(), "{proto} {path}");
        }
    }
}
