//! The HTTP response cache (issue 20) on one node (its `-t` checks: `config_check`), through the real binary with `curl`
//! against a scripted origin that counts its fetches: what is stored and for how long,
//! `Age`, `Cache-Status`/`X-Cache`, revalidation (a 304 refreshes the stored header),
//! conditional and HEAD and Range requests answered from the cache, `Vary`, the request's
//! directives, invalidation after an unsafe method, stale-if-error and
//! stale-while-revalidate, objects too large to store, purge by key and by tag.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::curl::{curl, Curled};
use crate::common::edge::Edge;
use crate::common::scrape::metric;
use crate::common::scripted::{cached_config, ScriptedOrigin};
use crate::common::wait_until;

struct Node {
    edge: Edge,
    origin: ScriptedOrigin,
}

impl Node {
    /// One edge in front of a scripted origin, every path cached in `[caches.main]` with
    /// `http` settings `http` (TOML lines).
    fn start(http: &str) -> Node {
        let origin = ScriptedOrigin::start();
        let caches = format!("[caches.main]\n[caches.main.http]\n{http}");
        let cfg = cached_config(origin.addr, &caches);
        Node {
            edge: Edge::start(&cfg),
            origin,
        }
    }

    fn addr(&self) -> SocketAddr {
        self.edge.addr()
    }

    fn get(&self, path: &str, args: &[&str]) -> Curled {
        curl(args, &format!("http://{}{path}", self.addr()))
    }

    fn x_cache(&self, path: &str) -> String {
        let r = self.get(path, &[]);
        r.header("x-cache").unwrap_or("-").to_string()
    }
}

fn status_of(r: &Curled) -> (u16, String) {
    (r.status, r.header("x-cache").unwrap_or("-").to_string())
}

#[test]
fn fresh_responses_are_served_from_the_cache_with_age_and_cache_status() {
    let n = Node::start("");
    n.origin.script(
        "/a",
        200,
        &[("cache-control", "max-age=600"), ("age", "30")],
        "A1",
    );
    let first = n.get("/a", &[]);
    assert_eq!(status_of(&first), (200, "MISS".into()));
    let cs = first.header("cache-status").unwrap();
    assert!(
        cs.starts_with("edgeproxy; fwd=uri-miss; fwd-status=200; stored"),
        "{cs}"
    );
    let second = n.get("/a", &[]);
    assert_eq!(
        (status_of(&second), second.text()),
        ((200, "HIT".into()), "A1".into())
    );
    let age: u64 = second.header("age").unwrap().parse().unwrap();
    assert!(age >= 30, "age {age} counts the age the origin reported");
    let cs = second.header("cache-status").unwrap();
    assert!(cs.starts_with("edgeproxy; hit; ttl="), "{cs}");
    assert_eq!(n.origin.hits("/a"), 1);
    let series =
        |s: &str| format!("edgeproxy_http_cache_responses_total{{cache=\"main\",status=\"{s}\"}}");
    assert_eq!(metric(n.addr(), &series("hit")), Some(1.0));
    assert_eq!(metric(n.addr(), &series("miss")), Some(1.0));
    assert!(
        metric(
            n.addr(),
            "edgeproxy_http_cache_stored_bytes{cache=\"main\"}"
        )
        .unwrap()
            > 0.0
    );
    // The default key has the query: another query is another object.
    assert_eq!(n.x_cache("/a?v=2"), "MISS");
    assert_eq!(n.origin.hits("/a"), 2);
}

#[test]
fn what_must_not_be_stored_is_fetched_every_time() {
    let n = Node::start("");
    let cases: [(&str, &[(&'static str, &str)]); 5] = [
        ("/no-store", &[("cache-control", "max-age=600, no-store")]),
        ("/private", &[("cache-control", "private, max-age=600")]),
        (
            "/cookie",
            &[("cache-control", "max-age=600"), ("set-cookie", "s=1")],
        ),
        (
            "/vary-star",
            &[("cache-control", "max-age=600"), ("vary", "*")],
        ),
        ("/no-freshness", &[]),
    ];
    for (path, headers) in cases {
        n.origin.script(path, 200, headers, "x");
        for _ in 0..2 {
            assert_eq!(n.x_cache(path), "MISS", "{path}");
        }
        assert_eq!(n.origin.hits(path), 2, "{path}");
    }
    // Authorization: only with public, s-maxage or must-revalidate.
    n.origin
        .script("/auth", 200, &[("cache-control", "max-age=600")], "secret");
    n.origin.script(
        "/auth-public",
        200,
        &[("cache-control", "public, max-age=600")],
        "p",
    );
    for _ in 0..2 {
        n.get("/auth", &["-H", "authorization: Basic eDp5"]);
        n.get("/auth-public", &["-H", "authorization: Basic eDp5"]);
    }
    assert_eq!(
        (n.origin.hits("/auth"), n.origin.hits("/auth-public")),
        (2, 1)
    );
    // A request's no-store: answered, not stored.
    n.origin.script(
        "/req-no-store",
        200,
        &[("cache-control", "max-age=600")],
        "r",
    );
    n.get("/req-no-store", &["-H", "cache-control: no-store"]);
    assert_eq!(n.x_cache("/req-no-store"), "MISS");
}

#[test]
fn a_304_from_the_origin_refreshes_the_stored_header_and_the_body_is_reused() {
    let n = Node::start("");
    let h = [
        ("cache-control", "no-cache"),
        ("etag", "\"v1\""),
        ("x-version", "1"),
    ];
    n.origin.script("/r", 200, &h, "BODY");
    assert_eq!(n.get("/r", &[]).text(), "BODY");
    let h2 = [
        ("cache-control", "no-cache"),
        ("etag", "\"v1\""),
        ("x-version", "2"),
    ];
    n.origin
        .script("/r", 200, &h2, "NEW BODY THE 304 MUST NOT BRING");
    let r = n.get("/r", &[]);
    assert_eq!((r.status, r.text()), (200, "BODY".into()));
    assert_eq!(r.header("x-cache"), Some("REVALIDATED"));
    assert_eq!(
        r.header("x-version"),
        Some("2"),
        "the 304's fields update the stored ones"
    );
    let sent = n.origin.requests("/r");
    assert_eq!(sent.len(), 2);
    assert_eq!(
        sent[1].headers.get("if-none-match").map(String::as_str),
        Some("\"v1\"")
    );
    // The stored header was updated too: the next revalidation serves x-version 2 as well.
    assert_eq!(n.get("/r", &[]).header("x-version"), Some("2"));
}

#[test]
fn conditional_head_and_range_requests_are_answered_from_the_stored_response() {
    let n = Node::start("");
    let h = [("cache-control", "max-age=600"), ("etag", "\"e1\"")];
    n.origin.script("/c", 200, &h, "0123456789");
    assert_eq!(n.get("/c", &[]).text(), "0123456789");
    let r = n.get("/c", &["-H", "if-none-match: \"e1\""]);
    assert_eq!(status_of(&r), (304, "HIT".into()));
    let r = n.get("/c", &["-H", "if-none-match: \"other\""]);
    assert_eq!((r.status, r.text()), (200, "0123456789".into()));
    let r = n.get("/c", &["-I"]);
    assert_eq!(status_of(&r), (200, "HIT".into()));
    // (`-I` writes the header where the body would go: no body follows it.)
    assert!(!r.text().contains("0123456789"), "{}", r.text());
    let r = n.get("/c", &["-H", "range: bytes=2-5"]);
    assert_eq!(
        (status_of(&r), r.text()),
        ((206, "HIT".into()), "2345".into())
    );
    assert_eq!(r.header("content-range"), Some("bytes 2-5/10"));
    assert_eq!(n.origin.hits("/c"), 1);
    // A Range or HEAD miss fetches the whole object with GET, and stores it.
    n.origin.script("/d", 200, &h, "abcdef");
    let r = n.get("/d", &["-H", "range: bytes=0-1"]);
    assert_eq!((r.status, r.text()), (206, "ab".into()));
    let seen = &n.origin.requests("/d")[0];
    assert!(!seen.headers.contains_key("range"), "{:?}", seen.headers);
    assert_eq!(n.x_cache("/d"), "HIT");
}

#[test]
fn vary_keeps_one_variant_per_request_header_value() {
    let n = Node::start("");
    let h = [
        ("cache-control", "max-age=600"),
        ("vary", "Accept-Language"),
    ];
    n.origin.script("/v", 200, &h, "varied");
    for lang in ["en", "fr", "en", "fr", "en"] {
        n.get("/v", &["-H", &format!("accept-language: {lang}")]);
    }
    assert_eq!(n.origin.hits("/v"), 2, "one fetch per variant");
    let langs: Vec<_> = n
        .origin
        .requests("/v")
        .iter()
        .map(|r| r.headers["accept-language"].clone())
        .collect();
    assert_eq!(langs, ["en", "fr"]);
    let r = n.get("/v", &["-H", "accept-language: fr"]);
    assert_eq!(r.header("x-cache"), Some("HIT"));
}

#[test]
fn the_requests_own_directives_are_honoured() {
    let n = Node::start("");
    let h = [("cache-control", "max-age=600"), ("etag", "\"q\"")];
    n.origin.script("/q", 200, &h, "q");
    n.get("/q", &[]);
    let r = n.get("/q", &["-H", "cache-control: no-cache"]);
    assert_eq!(r.header("x-cache"), Some("REVALIDATED"));
    let r = n.get("/q", &["-H", "pragma: no-cache"]);
    assert_eq!(r.header("x-cache"), Some("REVALIDATED"));
    let r = n.get("/q", &["-H", "cache-control: max-age=0"]);
    assert_eq!(r.header("x-cache"), Some("REVALIDATED"));
    assert_eq!(n.x_cache("/q"), "HIT");
    assert_eq!(n.origin.hits("/q"), 4);
    // only-if-cached: never the origin.
    let r = n.get("/never-fetched", &["-H", "cache-control: only-if-cached"]);
    assert_eq!(r.status, 504);
    assert_eq!(n.origin.hits("/never-fetched"), 0);
}

#[test]
fn an_unsafe_method_invalidates_the_stored_response_of_its_uri() {
    let n = Node::start("");
    n.origin
        .script("/u", 200, &[("cache-control", "max-age=600")], "u");
    n.origin
        .script("/other", 200, &[("cache-control", "max-age=600")], "o");
    n.get("/u", &[]);
    n.get("/other", &[]);
    assert_eq!(n.x_cache("/u"), "HIT");
    let r = n.get("/u", &["-X", "POST", "-d", "x=1"]);
    assert_eq!(r.status, 200);
    assert_eq!(n.x_cache("/u"), "MISS", "the POST dropped it");
    assert_eq!(n.x_cache("/other"), "HIT", "another URI stays");
    // Location / Content-Location on the same host are invalidated too.
    n.origin.script("/form", 200, &[("location", "/other")], "");
    n.get("/form", &["-X", "POST"]);
    assert_eq!(n.x_cache("/other"), "MISS");
    // A failed unsafe request invalidates nothing.
    n.get("/u", &[]);
    n.origin.script("/u", 500, &[], "no");
    n.get("/u", &["-X", "DELETE"]);
    n.origin
        .script("/u", 200, &[("cache-control", "max-age=600")], "u");
    assert_eq!(n.x_cache("/u"), "HIT");
}

#[test]
fn stale_responses_are_served_within_their_stale_windows() {
    let n = Node::start("");
    // Stale at once, usable for 600 s if the origin fails.
    let h = [("cache-control", "max-age=0, stale-if-error=600")];
    n.origin.script("/sie", 200, &h, "kept");
    n.get("/sie", &[]);
    n.origin.script("/sie", 503, &[], "down");
    let r = n.get("/sie", &[]);
    assert_eq!(
        (status_of(&r), r.text()),
        ((200, "STALE".into()), "kept".into())
    );
    // Without stale-if-error the origin's error goes through.
    n.origin
        .script("/plain", 200, &[("cache-control", "max-age=0")], "p");
    n.get("/plain", &[]);
    n.origin.script("/plain", 503, &[], "down");
    assert_eq!(n.get("/plain", &[]).status, 503);
    // stale-while-revalidate: answered stale at once, refreshed in the background.
    let h = [("cache-control", "max-age=0, stale-while-revalidate=600")];
    n.origin.script("/swr", 200, &h, "old");
    n.get("/swr", &[]);
    n.origin.script("/swr", 200, &h, "new");
    let r = n.get("/swr", &[]);
    assert_eq!(
        (status_of(&r), r.text()),
        ((200, "STALE".into()), "old".into())
    );
    wait_until("the background refresh", Duration::from_secs(10), || {
        n.origin.hits("/swr") == 2
    })
    .unwrap();
    // The origin gone (nothing listens): served stale, and the client connection, which
    // Pingora closes after such an answer, is announced as closing.
    let mut n = n;
    drop(std::mem::replace(&mut n.origin, ScriptedOrigin::start()));
    let r = n.get("/sie", &[]);
    assert_eq!(
        (status_of(&r), r.text()),
        ((200, "STALE".into()), "kept".into())
    );
    assert_eq!(r.header("connection"), Some("close"));
}

#[test]
fn responses_larger_than_max_object_size_stream_through_unstored() {
    let n = Node::start("max_object_size = \"64KiB\"");
    let big: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let h = [("cache-control", "max-age=600")];
    n.origin.script_bytes("/big", 200, &h, big.clone());
    for _ in 0..2 {
        let r = n.get("/big", &[]);
        assert_eq!((r.status, r.body.len()), (200, big.len()));
        assert!(r.body == big);
    }
    assert_eq!(n.origin.hits("/big"), 2);
    n.origin.script_bytes("/small", 200, &h, vec![b'x'; 60_000]);
    n.get("/small", &[]);
    assert_eq!(n.x_cache("/small"), "HIT");
}

#[test]
fn purges_by_key_prefix_and_tag_and_tags_never_reach_the_client() {
    let n = Node::start("");
    let tagged = [
        ("cache-control", "max-age=600"),
        ("surrogate-key", "product-1 list"),
    ];
    n.origin.script("/p/1", 200, &tagged, "p1");
    n.origin.script(
        "/p/2",
        200,
        &[("cache-control", "max-age=600"), ("cache-tag", "list")],
        "p2",
    );
    n.origin
        .script("/q/1", 200, &[("cache-control", "max-age=600")], "q1");
    for p in ["/p/1", "/p/2", "/q/1"] {
        let r = n.get(p, &[]);
        assert!(r.header("surrogate-key").is_none() && r.header("cache-tag").is_none());
        assert_eq!(n.x_cache(p), "HIT");
    }
    let a = n.addr();
    let purge = |q: &str| curl(&["-X", "POST"], &format!("http://{a}/purge?cache=main&{q}"));
    let r = purge("tag=product-1");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.text().contains("\"keys\":[\"http127.0.0.1/p/1\"]"),
        "{}",
        r.text()
    );
    assert_eq!(n.x_cache("/p/1"), "MISS");
    assert_eq!(n.x_cache("/p/2"), "HIT");
    assert_eq!(purge("tag=list").status, 200);
    assert_eq!(
        (n.x_cache("/p/1"), n.x_cache("/p/2")),
        ("MISS".into(), "MISS".into())
    );
    assert_eq!(purge("key=http127.0.0.1/q/1").status, 200);
    assert_eq!(n.x_cache("/q/1"), "MISS");
    assert_eq!(purge("prefix=http127.0.0.1/q/").status, 200);
    assert_eq!(n.x_cache("/q/1"), "MISS");
    assert_eq!(n.x_cache("/q/1"), "HIT");
}
