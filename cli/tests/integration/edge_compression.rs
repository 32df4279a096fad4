//! Response compression through the real binary, checked with real `curl --compressed`
//! (it decodes gzip, br and zstd) and with a client that does not decode: codings chosen by
//! q-value and server preference, sizes, `Vary`, weakened `ETag`, round-trip content, HEAD
//! with GET's header and no body, and what stays untouched (already encoded,
//! `no-transform`, small, binary types, HTTP/1.0, a route with `compression = false`).
//! Local answers and a page the content phase renders are compressed too.

use std::net::SocketAddr;

use crate::common::curl::curl;
use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::{client, raw_request};

fn big_html() -> String {
    let mut s = String::from("<!doctype html><html><body>\n");
    for i in 0..300 {
        s.push_str(&format!(
            "<p class=\"row\">row {i}: the quick brown fox</p>\n"
        ));
    }
    s + "</body></html>\n"
}

const HTML: &str = "text/html; charset=utf-8";

struct Env {
    listen: SocketAddr,
    /// The same block's h2c listener.
    h2: SocketAddr,
    /// A block without compression whose `/gz` route has it.
    route_only: SocketAddr,
    _origin: Origin,
    _edge: Edge,
    _tpl: tempfile::TempDir,
}

fn setup() -> Env {
    let html = big_html();
    let json = format!("[{}]", vec!["{\"id\":1,\"name\":\"thing\"}"; 200].join(","));
    let origin = Origin::builder()
        .route_with(
            "/page.html",
            200,
            &[
                ("Content-Type", HTML),
                ("ETag", "\"v1\""),
                ("Accept-Ranges", "bytes"),
            ],
            &html,
        )
        .route_with(
            "/data.json",
            200,
            &[("Content-Type", "application/json")],
            &json,
        )
        .route_with("/small.html", 200, &[("Content-Type", HTML)], "<p>tiny</p>")
        .route_with("/image.png", 200, &[("Content-Type", "image/png")], &html)
        .route_with(
            "/encoded",
            200,
            &[("Content-Type", HTML), ("Content-Encoding", "gzip")],
            &html,
        )
        .route_with(
            "/no-transform",
            200,
            &[
                ("Content-Type", HTML),
                ("Cache-Control", "public, no-transform"),
            ],
            &html,
        )
        .route_with("/off", 200, &[("Content-Type", HTML)], &html)
        .route_with("/gzip-only", 200, &[("Content-Type", HTML)], &html)
        .route_with(
            "/p/1",
            200,
            &[("Content-Type", "application/json")],
            r#"{"name":"Phone"}"#,
        )
        .start();
    let tpl = tempfile::tempdir().unwrap();
    let template = tpl.path().join("page.hbs");
    let rendered = format!("<h1>{{{{product.name}}}}</h1>\n{html}");
    std::fs::write(&template, rendered).unwrap();
    let (listen, route_only, h2) = (ANY_PORT, ANY_PORT, ANY_PORT);
    let local_body = big_html().replace('\n', " ");
    let config = format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[caches.main]
l1_capacity = "1MiB"

[[servers]]
listen = ["{listen}", {{ addr = "{h2}", http2 = true }}]
compression = {{ min_length = 256 }}

[[servers.routes]]
path = "/off"
compression = false
upstream = "origin"

[[servers.routes]]
path = "/gzip-only"
compression = {{ algorithms = ["gzip"], gzip_level = 9 }}
upstream = "origin"

[[servers.routes]]
path = "/local"
plugins = [{{ name = "respond", config = {{ body = '{local_body}', headers = {{ "content-type" = "text/html" }} }} }}]

[[servers.routes]]
path = "/product"
plugins = [{{ name = "page", config = {{ cache = "main", template = "{template}", params = {{ id = {{ pattern = "[0-9]+" }} }}, sources = [{{ name = "product", key = "p_{{id}}", origin = "origin", path = "/p/{{id}}", ttl = "1m" }}] }} }}]

[[servers.routes]]
path_prefix = "/"
upstream = "origin"

[[servers]]
listen = ["{route_only}"]
[[servers.routes]]
path = "/page.html"
upstream = "origin"
compression = {{ algorithms = ["gzip"] }}
[[servers.routes]]
upstream = "origin"
"#,
        origin = origin.addr,
        template = template.display(),
    );
    let edge = Edge::start(&config);
    let [listen, h2, route_only] = edge.listening();
    Env {
        listen,
        h2,
        route_only,
        _origin: origin,
        _edge: edge,
        _tpl: tpl,
    }
}

/// GET `path` with `Accept-Encoding: ae` by a client that does not decode: (status,
/// headers, raw body bytes).
fn get(env: &Env, path: &str, ae: &str) -> (u16, reqwest::header::HeaderMap, Vec<u8>) {
    let r = client()
        .get(format!("http://{}{path}", env.listen))
        .header("accept-encoding", ae)
        .send()
        .unwrap();
    let (status, headers) = (r.status().as_u16(), r.headers().clone());
    (status, headers, r.bytes().unwrap().to_vec())
}

fn header<'a>(h: &'a reqwest::header::HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).map(|v| v.to_str().unwrap())
}

#[test]
fn curl_compressed_gets_the_preferred_coding_and_the_same_content() {
    let env = setup();
    let url = |p: &str| format!("http://{}{p}", env.listen);
    let html = big_html();
    // curl offers "deflate, gzip, br, zstd"; edgeproxy prefers br.
    let r = curl(&["--compressed"], &url("/page.html"));
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("etag"), Some("W/\"v1\""));
    assert_eq!(r.header("content-length"), None);
    assert_eq!(r.header("accept-ranges"), None);
    assert_eq!(r.text(), html);
    assert!(
        r.downloaded * 5 < html.len() as u64,
        "{} of {}",
        r.downloaded,
        html.len()
    );

    for (ae, coding) in [
        ("gzip", "gzip"),
        ("zstd", "zstd"),
        ("br;q=0.5, gzip", "gzip"),
    ] {
        let r = curl(
            &["--compressed", "-H", &format!("accept-encoding: {ae}")],
            &url("/page.html"),
        );
        assert_eq!(r.header("content-encoding"), Some(coding), "{ae}");
        assert_eq!(r.text(), html, "{ae}");
        assert!(
            r.downloaded * 5 < html.len() as u64,
            "{ae}: {}",
            r.downloaded
        );
    }
    let r = curl(&["--compressed"], &url("/data.json"));
    assert_eq!(r.header("content-encoding"), Some("br"));
    assert!(r.text().starts_with("[{\"id\":1"));
    // A route limited to gzip at level 9.
    let r = curl(&["--compressed"], &url("/gzip-only"));
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    assert_eq!(r.text(), html);
    // Without --compressed curl asks for nothing: sent as it is, Vary still says why.
    let r = curl(&[], &url("/page.html"));
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(
        r.header("content-length"),
        Some(html.len().to_string().as_str())
    );
    assert_eq!(r.header("vary"), Some("Accept-Encoding"));
    assert_eq!(r.header("etag"), Some("\"v1\""));
}

#[test]
fn http2_responses_are_compressed_the_same_way() {
    let env = setup();
    let url = |p: &str| format!("http://{}{p}", env.h2);
    let html = big_html();
    for (ae, coding) in [("br", "br"), ("gzip", "gzip"), ("zstd", "zstd")] {
        let r = curl(
            &[
                "--http2-prior-knowledge",
                "--compressed",
                "-H",
                &format!("accept-encoding: {ae}"),
            ],
            &url("/page.html"),
        );
        assert_eq!(r.status, 200);
        assert_eq!(
            r.header("content-encoding"),
            Some(coding),
            "{ae}: {:?}",
            r.headers
        );
        assert_eq!(r.header("vary"), Some("Accept-Encoding"));
        assert_eq!(r.text(), html, "{ae}");
        assert!(
            r.downloaded * 5 < html.len() as u64,
            "{ae}: {}",
            r.downloaded
        );
    }
    let r = curl(&["--http2-prior-knowledge"], &url("/page.html"));
    assert_eq!(r.header("content-encoding"), None);
    assert_eq!(r.text(), html);
}

#[test]
fn q_values_star_and_identity() {
    let env = setup();
    let coding = |ae: &str, path: &str| {
        let (status, h, _) = get(&env, path, ae);
        assert_eq!(status, 200);
        header(&h, "content-encoding")
            .unwrap_or("identity")
            .to_string()
    };
    assert_eq!(coding("gzip;q=0, br;q=0", "/page.html"), "identity");
    assert_eq!(coding("br;q=0.1, gzip;q=0.9", "/page.html"), "gzip");
    assert_eq!(coding("gzip;q=0.5, identity", "/page.html"), "identity");
    assert_eq!(coding("*", "/page.html"), "br");
    assert_eq!(coding("br;q=0, *;q=0.3", "/page.html"), "zstd");
    assert_eq!(coding("*;q=0", "/page.html"), "identity");
    assert_eq!(coding("deflate, compress", "/page.html"), "identity");
    // A block without compression, one route with it.
    let only = |path: &str| {
        let r = client()
            .get(format!("http://{}{path}", env.route_only))
            .header("accept-encoding", "br, gzip")
            .send()
            .unwrap();
        header(r.headers(), "content-encoding").map(String::from)
    };
    assert_eq!(only("/page.html").as_deref(), Some("gzip"));
    assert_eq!(only("/data.json"), None);
    // Refusing identity waives the minimum length.
    assert_eq!(coding("gzip", "/small.html"), "identity");
    assert_eq!(coding("gzip, identity;q=0", "/small.html"), "gzip");
    // The compressed bytes are a real gzip stream of the origin's body.
    let (_, h, body) = get(&env, "/page.html", "gzip");
    assert_eq!(header(&h, "transfer-encoding"), Some("chunked"));
    assert_eq!(&body[..2], &[0x1f, 0x8b]);
    let mut gunzip = std::process::Command::new("gzip")
        .args(["-dc"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    gunzip.stdin.take().unwrap().write_all(&body).unwrap();
    let out = gunzip.wait_with_output().unwrap();
    assert_eq!(String::from_utf8(out.stdout).unwrap(), big_html());
}

#[test]
fn what_stays_untouched() {
    let env = setup();
    let html = big_html();
    let ae = "gzip, br, zstd";
    // Already encoded upstream: passed through byte for byte, never compressed twice.
    let (_, h, body) = get(&env, "/encoded", ae);
    assert_eq!(header(&h, "content-encoding"), Some("gzip"));
    assert_eq!(
        header(&h, "content-length"),
        Some(html.len().to_string().as_str())
    );
    assert_eq!(body, html.as_bytes());
    assert_eq!(header(&h, "vary"), None);
    for (path, len) in [
        ("/no-transform", html.len()),
        ("/small.html", 11),
        ("/image.png", html.len()),
        ("/off", html.len()),
    ] {
        let (status, h, body) = get(&env, path, ae);
        assert_eq!(status, 200, "{path}");
        assert_eq!(header(&h, "content-encoding"), None, "{path}");
        assert_eq!(
            header(&h, "content-length"),
            Some(len.to_string().as_str()),
            "{path}"
        );
        assert_eq!(body.len(), len, "{path}");
        assert_eq!(header(&h, "vary"), None, "{path}");
    }
    // HEAD carries the header GET would (RFC 9110 §9.3.2) and no body; HTTP/1.0 is not
    // compressed (nginx neither) but still learns it varies.
    let head = raw_request(
        env.listen,
        b"HEAD /page.html HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    );
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("content-encoding: gzip"), "{head}");
    assert!(lower.contains("vary: accept-encoding"), "{head}");
    assert!(
        head.ends_with("\r\n\r\n"),
        "no body after a HEAD header: {head:?}"
    );
    let old = raw_request(
        env.listen,
        b"GET /page.html HTTP/1.0\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n",
    );
    let lower = old.to_ascii_lowercase();
    assert!(!lower.contains("content-encoding"), "{old}");
    assert!(lower.contains("vary: accept-encoding"), "{old}");
    assert!(old.ends_with("</body></html>\n"), "{old}");
}

#[test]
fn local_answers_and_rendered_pages_are_compressed() {
    let env = setup();
    let url = |p: &str| format!("http://{}{p}", env.listen);
    let r = curl(&["--compressed"], &url("/local"));
    assert_eq!((r.status, r.header("content-encoding")), (200, Some("br")));
    assert_eq!(r.text(), big_html().replace('\n', " "));
    assert!(r.downloaded * 5 < r.body.len() as u64);
    assert!(r.header("x-request-id").is_some());

    let r = curl(
        &["--compressed", "-H", "accept-encoding: gzip"],
        &url("/product?id=1"),
    );
    assert_eq!(
        (r.status, r.header("content-encoding")),
        (200, Some("gzip"))
    );
    assert!(
        r.text().starts_with("<h1>Phone</h1>\n<!doctype html>"),
        "{}",
        r.text()
    );
    assert!(r.downloaded * 5 < r.body.len() as u64);

    // Error pages are short: under min_length they go out as they are.
    let r = curl(&["--compressed"], &url("/product?id=x"));
    assert_eq!((r.status, r.header("content-encoding")), (400, None));
}
