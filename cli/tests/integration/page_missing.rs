//! The `page` plugin's `missing` setting through the real binary: a record lacking a field
//! renders with the configured default and is counted in /metrics, the same record under
//! `missing = "strict"` is a 500, and a template syntax mistake stays a config error at `-t`.

use std::net::SocketAddr;

use crate::common::client;
use crate::common::edge::{check_text, Edge, ANY_PORT};
use crate::common::origin::Origin;

/// A product record without `price`.
const PRODUCT: &str = r#"{"productName":"Phone"}"#;

fn config(listen: SocketAddr, origin: SocketAddr, template: &str) -> String {
    let page = |missing: &str| {
        format!(
            r#"{{ name = "page", config = {{ cache = "main", template = "{template}", {missing} params = {{ id = {{ pattern = "[0-9]+" }} }}, sources = [{{ name = "product", key = "p_{{id}}", origin = "origin", path = "/p/{{id}}", ttl = "1m" }}] }} }}"#
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
path = "/lenient"
plugins = [{lenient}]

[[servers.routes]]
path = "/strict"
plugins = [{strict}]

[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]
"#,
        lenient = page(r#"missing = { default = "n/a" },"#),
        strict = page(""),
    )
}

#[test]
fn a_missing_field_renders_as_the_default_and_is_counted() {
    let origin = Origin::builder().route("/p/1", 200, PRODUCT).start();
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("p.hbs");
    std::fs::write(&template, "{{product.productName}}: {{product.price}}").unwrap();
    let listen = ANY_PORT;
    let template = template.display().to_string();
    let edge = Edge::start(&config(listen, origin.addr, &template));
    let listen = edge.addr();
    let c = client();
    let get = |path: &str| {
        let r = c.get(format!("http://{listen}{path}")).send().unwrap();
        (r.status().as_u16(), r.text().unwrap())
    };

    assert_eq!(get("/lenient?id=1"), (200, "Phone: n/a".to_string()));
    assert_eq!(get("/lenient?id=1"), (200, "Phone: n/a".to_string()));
    assert_eq!(get("/strict?id=1").0, 500, "strict stays strict");
    let metrics = get("/metrics").1;
    let line = format!("edgeproxy_page_missing_fields_total{{template=\"{template}\"}} 2");
    assert!(metrics.contains(&line), "{metrics}");
    let stderr = edge.stderr();
    assert_eq!(
        stderr.matches("page rendered with a field missing").count(),
        1,
        "one warning, rate-limited: {stderr}"
    );
    assert!(
        stderr.contains("\"product.price\""),
        "the field is named: {stderr}"
    );
}

#[test]
fn a_template_syntax_mistake_is_still_a_config_error() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("broken.hbs");
    std::fs::write(&template, "{{product.productName}}\n{{#if}}oops").unwrap();
    let text = config(ANY_PORT, ANY_PORT, &template.display().to_string());
    let checked = check_text(&text);
    assert_eq!(checked.code, Some(1), "{}", checked.stderr);
    let at = format!("{}:17:", checked.path.display());
    assert!(
        checked.stderr.contains(&at)
            && checked.stderr.contains("plugin `page`")
            && checked.stderr.contains("broken.hbs"),
        "{}",
        checked.stderr
    );

    // A mistyped `missing` is an error at its value.
    let text = config(ANY_PORT, ANY_PORT, "t.hbs").replace(
        r#"missing = { default = "n/a" },"#,
        r#"missing = "lenient","#,
    );
    let checked = check_text(&text);
    assert_eq!(checked.code, Some(1), "{}", checked.stderr);
    assert!(
        checked.stderr.contains(
            r#"invalid value: string "lenient", expected "strict", "empty" or { default = "text" }"#
        ),
        "{}",
        checked.stderr
    );
}
