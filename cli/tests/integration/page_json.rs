//! Source JSON as the `page` plugin keeps it (strings left in the stored bytes, escapes
//! decoded while written out) renders through the real binary exactly as before: JSON
//! escapes, unicode, numbers, nested paths and a fallback's escapes, by the simple renderer
//! and by handlebars, from the origin (first request) and from L1 (second).

use std::net::SocketAddr;

use crate::common::client;
use crate::common::edge::{Edge, ANY_PORT};
use crate::common::origin::Origin;

/// A product whose strings need every kind of JSON escape, and some that need none.
const PRODUCT: &str = r#"{"name":"5.5\" <b> caf\u00e9 \ud83d\ude00","price":0.99,"big":1e21,
"nested":{"a":[1,{"b":"x\\y\/z"}]},"tags":["t\"1","t2"],"plain":"ünï & co","id":7}"#;

fn config(listen: SocketAddr, origin: SocketAddr, simple: &str, hb: &str) -> String {
    let page = |template: &str| {
        format!(
            r#"{{ name = "page", config = {{ cache = "main", template = "{template}", params = {{ id = {{ pattern = "[0-9]+" }} }}, sources = [{{ name = "product", key = "p_{{id}}", origin = "origin", path = "/p/{{id}}", ttl = "1m" }}, {{ name = "stock", key = "s_{{id}}", origin = "origin", path = "/s/{{id}}", ttl = "1m", required = false, fallback = {{ n = "q\"x", count = 0 }} }}] }} }}"#
        )
    };
    format!(
        r#"
[upstreams.origin]
servers = [{{ addr = "{origin}" }}]

[caches.main]
l1_capacity = "1MiB"

[[servers]]
listen = ["{listen}"]

[[servers.routes]]
path = "/simple"
plugins = [{simple}]

[[servers.routes]]
path = "/hb"
plugins = [{hb}]
"#,
        simple = page(simple),
        hb = page(hb),
    )
}

#[test]
fn escapes_unicode_numbers_and_nested_paths_render_as_before() {
    let origin = Origin::builder()
        .route("/p/1", 200, PRODUCT)
        .route("/s/1", 404, "")
        .start();
    let dir = tempfile::tempdir().unwrap();
    let simple = dir.path().join("simple.hbs");
    std::fs::write(
        &simple,
        "{{product.name}}|{{{product.name}}}|{{product.price}}|{{product.big}}|\
         {{product.nested.a.1.b}}|{{product.plain}}|{{product.tags.0}}|{{stock.n}}|\
         {{stock.count}}|{{product.id}}",
    )
    .unwrap();
    let hb = dir.path().join("hb.hbs");
    std::fs::write(
        &hb,
        "{{#each product.tags}}[{{this}}]{{/each}} {{product.name}} {{stock.n}} \
         {{product.price}} {{#with product.nested}}{{a.1.b}}{{/with}}",
    )
    .unwrap();
    let listen = ANY_PORT;
    let path = |p: &std::path::Path| p.display().to_string();
    let edge = Edge::start(&config(listen, origin.addr, &path(&simple), &path(&hb)));
    let listen = edge.addr();
    let c = client();
    let get = |path: &str| {
        let r = c.get(format!("http://{listen}{path}")).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };
    let simple_page = "5.5&quot; &lt;b&gt; café 😀|5.5\" <b> café 😀|0.99|1e+21|x\\y/z|\
                       ünï &amp; co|t&quot;1|q&quot;x|0|7";
    let hb_page = "[t&quot;1][t2] 5.5&quot; &lt;b&gt; café 😀 q&quot;x 0.99 x\\y/z";
    for round in ["origin", "L1"] {
        assert_eq!(get("/simple?id=1"), (200, simple_page.into()), "{round}");
        assert_eq!(get("/hb?id=1"), (200, hb_page.into()), "{round}");
    }
    drop(edge);
}
