use super::*;
use Decision::*;

fn req(ae: Option<&str>) -> RequestInfo {
    let mut r = RequestHeader::build("GET", b"/", None).unwrap();
    if let Some(ae) = ae {
        r.insert_header("accept-encoding", ae).unwrap();
    }
    RequestInfo::of(&r)
}

fn resp(status: u16, headers: &[(&str, &str)]) -> ResponseHeader {
    let mut r = ResponseHeader::build(status, None).unwrap();
    r.insert_header("content-type", "text/html").unwrap();
    for (k, v) in headers {
        r.insert_header(k.to_string(), *v).unwrap();
    }
    r
}

fn d(ae: Option<&str>, r: &ResponseHeader) -> Decision {
    decide(&CompressionSpec::default(), &req(ae), r, false)
}

#[test]
fn compresses_eligible_responses_with_the_chosen_coding() {
    let r = resp(200, &[("content-length", "1000")]);
    assert_eq!(d(Some("gzip"), &r), Compress(Coding::Gzip));
    assert_eq!(d(Some("gzip, br"), &r), Compress(Coding::Brotli));
    assert_eq!(d(Some("gzip;q=0"), &r), Vary);
    assert_eq!(d(None, &r), Vary);
    // Unknown length: compressed (nginx measures Content-Length only).
    assert_eq!(d(Some("gzip"), &resp(404, &[])), Compress(Coding::Gzip));
}

#[test]
fn leaves_alone_what_nginx_leaves_alone() {
    let ae = Some("gzip");
    assert_eq!(d(ae, &resp(200, &[("content-encoding", "br")])), Untouched);
    assert_eq!(
        d(ae, &resp(200, &[("cache-control", "public, No-Transform")])),
        Untouched
    );
    assert_eq!(
        d(ae, &resp(200, &[("content-type", "image/png")])),
        Untouched
    );
    assert_eq!(d(ae, &resp(200, &[("content-length", "19")])), Untouched);
    for status in [101, 204, 206, 304] {
        assert_eq!(d(ae, &resp(status, &[])), Untouched, "{status}");
    }
    let spec = CompressionSpec::default();
    assert_eq!(decide(&spec, &req(ae), &resp(200, &[]), true), Untouched);
    // HEAD is decided as GET (its header is GET's), whether or not the response "ends".
    let mut head = RequestHeader::build("HEAD", b"/", None).unwrap();
    head.insert_header("accept-encoding", "gzip").unwrap();
    for end in [false, true] {
        assert_eq!(
            decide(&spec, &RequestInfo::of(&head), &resp(200, &[]), end),
            Compress(Coding::Gzip)
        );
    }
    let mut old = RequestHeader::build("GET", b"/", None).unwrap();
    old.set_version(Version::HTTP_10);
    old.insert_header("accept-encoding", "gzip").unwrap();
    assert_eq!(
        decide(&spec, &RequestInfo::of(&old), &resp(200, &[]), false),
        Vary
    );
}

#[test]
fn refusing_identity_waives_the_minimum_length() {
    let small = resp(200, &[("content-length", "5")]);
    assert_eq!(
        d(Some("gzip, identity;q=0"), &small),
        Compress(Coding::Gzip)
    );
    assert_eq!(d(Some("gzip"), &small), Untouched);
}

#[test]
fn header_changes() {
    let mut r = resp(
        200,
        &[
            ("content-length", "1000"),
            ("accept-ranges", "bytes"),
            ("etag", "\"abc\""),
            ("vary", "Cookie"),
        ],
    );
    apply(&mut r, Compress(Coding::Brotli), true).unwrap();
    let h = &r.headers;
    assert_eq!(h["content-encoding"], "br");
    assert_eq!(h["transfer-encoding"], "chunked");
    assert_eq!(h["etag"], "W/\"abc\"");
    assert!(h.get("content-length").is_none() && h.get("accept-ranges").is_none());
    let vary: Vec<_> = h.get_all("vary").iter().collect();
    assert_eq!(vary, ["Cookie", "Accept-Encoding"]);

    let mut weak = resp(200, &[("etag", "W/\"x\""), ("vary", "accept-encoding")]);
    apply(&mut weak, Compress(Coding::Gzip), true).unwrap();
    assert_eq!(weak.headers["etag"], "W/\"x\"");
    assert_eq!(weak.headers.get_all("vary").iter().count(), 1);
    let mut bad = resp(200, &[("etag", "abc")]);
    apply(&mut bad, Compress(Coding::Gzip), false).unwrap();
    assert!(bad.headers.get("etag").is_none() && bad.headers.get("vary").is_none());

    let mut only_vary = resp(200, &[("content-length", "1000"), ("etag", "\"abc\"")]);
    apply(&mut only_vary, Vary, true).unwrap();
    assert_eq!(only_vary.headers["vary"], "Accept-Encoding");
    assert_eq!(only_vary.headers["content-length"], "1000");
    assert_eq!(only_vary.headers["etag"], "\"abc\"");
}

#[test]
fn grpc_bodies_are_never_compressed_even_with_every_type() {
    let every = CompressionSpec {
        types: crate::compress::Types::new(["*"]),
        ..CompressionSpec::default()
    };
    for ct in [
        "application/grpc",
        "application/grpc-web+proto",
        "Application/GRPC+json",
    ] {
        let r = resp(200, &[("content-type", ct)]);
        assert_eq!(
            decide(&every, &req(Some("gzip")), &r, false),
            Untouched,
            "{ct}"
        );
    }
    let plain = resp(200, &[("content-type", "application/octet-stream")]);
    assert_eq!(
        decide(&every, &req(Some("gzip")), &plain, false),
        Compress(Coding::Gzip)
    );
}
