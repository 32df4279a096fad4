//! Rendered-page reuse (the `page` plugin's `render_cache`, on by default) keeps the exact
//! meaning of TTL, negative entries, stale-if-error and purge: the same scenario runs on a
//! route with the default settings and on one with `render_cache = "0"` (each with its own
//! cache, one origin), and every answer must be the one the cache levels say, on both. A
//! reuse keyed by the parameters alone would keep serving the first page here.

use std::net::SocketAddr;
use std::time::Duration;

use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;
use crate::common::{client, wait_until};

fn config(listen: SocketAddr, admin: SocketAddr, origin: SocketAddr, template: &str) -> String {
    // `pre`: key prefix; the `long` routes keep values 10 minutes (only a purge renews them).
    let page = |cache: &str, extra: &str, pre: &str, ttl: &str| {
        format!(
            r#"{{ name = "page", config = {{ cache = "{cache}", template = "{template}", {extra} params = {{ id = {{ pattern = "[0-9]+" }} }}, sources = [
  {{ name = "product", key = "{pre}p_{{id}}", origin = "origin", path = "/p/{{id}}", ttl = "{ttl}", negative_ttl = "1s", stale_grace = "1h" }},
  {{ name = "stock", key = "{pre}s_{{id}}", origin = "origin", path = "/s/{{id}}", ttl = "{ttl}", negative_ttl = "1s", required = false, fallback = {{ n = 0 }} }},
] }} }}"#
        )
    };
    format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]
max_fails = 0

[caches.on]
l1_capacity = "1MiB"
[caches.off]
l1_capacity = "1MiB"

[[servers]]
listen = ["{listen}"]
[[servers.routes]]
path = "/on"
plugins = [{on}]
[[servers.routes]]
path = "/off"
plugins = [{off}]
[[servers.routes]]
path = "/on-long"
plugins = [{on_long}]
[[servers.routes]]
path = "/off-long"
plugins = [{off_long}]

[[servers]]
name = "admin"
listen = ["{admin}"]
[[servers.routes]]
path = "/purge"
plugins = [{{ name = "admin-token", config = {{ token_env = "EDGEPROXY_ADMIN_TOKEN" }} }}, {{ name = "cache-purge" }}]
"#,
        on = page("on", "", "", "1s"),
        off = page("off", r#"render_cache = "0","#, "", "1s"),
        on_long = page("on", "", "long_", "10m"),
        off_long = page("off", r#"render_cache = "0","#, "long_", "10m"),
    )
}

struct Env {
    listen: SocketAddr,
    admin: SocketAddr,
    origin: Origin,
    _edge: Edge,
    _dir: tempfile::TempDir,
}

impl Env {
    /// (status, X-Cache, body) of `/{route}?id=1`.
    fn get(&self, route: &str) -> (u16, String, String) {
        let r = client()
            .get(format!("http://{}/{route}?id=1", self.listen))
            .send()
            .unwrap();
        let level = r
            .headers()
            .get("x-cache")
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        (r.status().as_u16(), level, r.text().unwrap())
    }

    /// The body both routes answer, asserted equal (and 200).
    fn both(&self) -> String {
        self.both_of("on", "off")
    }

    fn both_of(&self, on: &str, off: &str) -> String {
        let (on, off) = (self.get(on), self.get(off));
        assert_eq!((on.0, &on.2), (off.0, &off.2), "reuse on vs off");
        assert_eq!(on.0, 200);
        on.2
    }

    /// Waits until both routes answer `body`.
    fn until(&self, what: &str, body: &str) {
        wait_until(what, Duration::from_secs(10), || {
            self.get("on").2 == body && self.get("off").2 == body
        })
        .unwrap_or_else(|e| panic!("{e}: on={:?} off={:?}", self.get("on"), self.get("off")));
    }

    fn purge(&self, cache: &str, key: &str) {
        let r = client()
            .post(format!(
                "http://{}/purge?cache={cache}&key={key}",
                self.admin
            ))
            .header("authorization", "Bearer t0ken")
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().unwrap());
    }
}

fn setup() -> Env {
    let origin = Origin::builder()
        .status(404)
        .route("/p/1", 200, r#"{"name":"v1"}"#)
        .start();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("p.hbs");
    std::fs::write(&template, "{{product.name}}|{{stock.n}}").unwrap();
    let (listen, admin) = (ANY_PORT, ANY_PORT);
    let cfg = config(listen, admin, origin.addr, &template.display().to_string());
    let edge = Edge::start_with(&cfg, &[("EDGEPROXY_ADMIN_TOKEN", "t0ken")]);
    let [listen, admin] = edge.listening();
    Env {
        listen,
        admin,
        origin,
        _edge: edge,
        _dir: dir,
    }
}

#[test]
fn reuse_keeps_ttl_negative_stale_and_purge_exact() {
    let env = setup();
    // A missing optional source renders its fallback; the page is seen often enough to be
    // remembered (the second sighting admits it).
    for _ in 0..4 {
        assert_eq!(env.both(), "v1|0");
    }
    assert_eq!(env.get("on").1, "L1");

    // The origin changes: cached values (and so the page) stand until their TTL...
    env.origin.set_route("/p/1", 200, r#"{"name":"v2"}"#);
    env.origin.set_route("/s/1", 200, r#"{"n":5}"#);
    assert_eq!(env.both(), "v1|0", "fresh entries still answer");
    // ...then the new product and the end of the negative entry show, on both routes.
    env.until("the new values after the TTLs", "v2|5");
    for _ in 0..3 {
        assert_eq!(env.both(), "v2|5");
    }

    // Stale-if-error: the origin fails once the product expired; the stale value answers
    // (X-Cache STALE) and the page is the one rendered from it.
    env.origin.set_route("/p/1", 500, "boom");
    wait_until("a STALE answer", Duration::from_secs(10), || {
        env.get("on").1 == "STALE" && env.get("off").1 == "STALE"
    })
    .unwrap();
    assert_eq!(env.both(), "v2|5");
    // The origin recovers with new data: after the stale back-off, the page follows.
    env.origin.set_route("/p/1", 200, r#"{"name":"v3"}"#);
    env.until("the recovered origin's value", "v3|5");

    // Purge (values kept 10 minutes): a new value at the origin shows only after the
    // purge, and at once.
    for _ in 0..3 {
        assert_eq!(env.both_of("on-long", "off-long"), "v3|5");
    }
    env.origin.set_route("/p/1", 200, r#"{"name":"v4"}"#);
    assert_eq!(env.both_of("on-long", "off-long"), "v3|5", "no purge yet");
    env.purge("on", "long_p_1");
    env.purge("off", "long_p_1");
    for _ in 0..3 {
        assert_eq!(
            env.both_of("on-long", "off-long"),
            "v4|5",
            "after the purge"
        );
    }
}
