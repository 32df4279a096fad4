//! `[server] config_source = { consul = { … } }` → [`FleetSpec`](crate::fleet::FleetSpec).

use toml_edit::Item;

use super::diag::Diagnostics;
use super::reader::{item_span, Tbl};
use super::upstreams::read_consul_keys;
use crate::fleet::FleetSpec;

/// Reads `config_source`; `node` is the `[server] node_name` in force.
pub(super) fn read_config_source(
    d: &mut Diagnostics,
    item: &Item,
    node: &str,
) -> Option<FleetSpec> {
    let outer = Tbl::of(d, item, "config_source")?;
    let Some(consul) = outer.item("consul") else {
        d.push(
            item_span(item),
            "`config_source` needs a `consul` table",
            Some("config_source = { consul = { address = \"http://127.0.0.1:8500\", prefix = \"edgeproxy/fleet\", state_dir = \"/var/lib/edgeproxy/fleet\" } }"),
        );
        outer.finish(d, "config_source");
        return None;
    };
    outer.finish(d, "config_source");
    let t = Tbl::of(d, consul, "config_source.consul")?;
    let spec = read_consul_keys(d, &t, consul);
    let dc = t.opt_str(d, "dc").map(|s| s.value);
    let state_dir = t.req_str(d, "state_dir");
    let tags = t.str_list(d, "tags").into_iter().map(|s| s.value).collect();
    if spec.as_ref().is_some_and(|s| s.dump_file.is_some()) {
        d.push(
            t.key_span("dump_file"),
            "`dump_file` has no meaning for a config source: applied versions are kept in `state_dir`",
            Some("remove it"),
        );
    }
    t.finish(d, "config_source.consul");
    Some(FleetSpec {
        consul: spec?,
        dc,
        state_dir: state_dir?.value.into(),
        tags,
        node: node.to_string(),
    })
}
