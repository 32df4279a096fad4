//! `[upstreams.NAME]` sections → `GroupSpec`.

use std::net::SocketAddr;
use std::time::Duration;

use toml_edit::Item;

use super::diag::Diagnostics;
use super::health::read_health_check;
use super::hot::read_hot;
use super::protocol::{check_health_fits, read_protocol};
use super::reader::{item_span, table_items, Tbl};
use crate::upstream::{
    BalanceSpec, ConsulSpec, GroupSpec, HashSpec, ServerSpec, Timeouts, UpstreamTls,
};

/// Reads every upstream group of the document; `caches` are the `[caches.NAME]` names
/// (a group's `hot` table may name one).
pub fn read_upstreams(d: &mut Diagnostics, item: Option<&Item>, caches: &[&str]) -> Vec<GroupSpec> {
    let Some(item) = item else {
        return Vec::new();
    };
    let Some(table) = item.as_table_like() else {
        d.error(item_span(item), "`upstreams` must be a table of groups");
        return Vec::new();
    };
    let mut groups = Vec::new();
    for (name, group) in table.iter() {
        if let Some(g) = read_group(d, name, group, caches) {
            groups.push(g);
        }
    }
    groups
}

/// `hash_balance_factor` (consistent hashing with bounded loads) on a hash group.
fn with_balance_factor(
    d: &mut Diagnostics,
    t: &Tbl<'_>,
    name: &str,
    balance: BalanceSpec,
) -> BalanceSpec {
    let Some(f) = t.number(d, "hash_balance_factor", 1.0..=10.0) else {
        return balance;
    };
    match balance {
        BalanceSpec::Hash(mut h) => {
            h.balance_factor = Some(f.value);
            BalanceSpec::Hash(h)
        }
        BalanceSpec::RoundRobin => {
            d.push(
                f.span,
                format!("upstream `{name}`: `hash_balance_factor` needs balance = \"hash\""),
                Some("round robin is balanced already; remove it or add balance = \"hash\""),
            );
            BalanceSpec::RoundRobin
        }
    }
}

fn read_group(d: &mut Diagnostics, name: &str, item: &Item, caches: &[&str]) -> Option<GroupSpec> {
    let t = Tbl::of(d, item, &format!("upstream `{name}`"))?;
    let max_fails = t
        .int(d, "max_fails", 0..=1000)
        .map_or(ServerSpec::DEFAULT_MAX_FAILS, |v| v.value as u32);
    let fail_timeout = t
        .duration(d, "fail_timeout")
        .unwrap_or(ServerSpec::DEFAULT_FAIL_TIMEOUT);
    let mut servers = Vec::new();
    if let Some(list) = t.item("servers") {
        match table_items(list) {
            Some(items) => {
                for s in &items {
                    if let Some(s) = read_server(d, s, max_fails, fail_timeout) {
                        servers.push(s);
                    }
                }
            }
            None => d.push(
                item_span(list),
                "`servers` must be an array of tables",
                Some("servers = [{ addr = \"127.0.0.1:9001\", weight = 1 }]"),
            ),
        }
    }
    let hashed = match t.opt_str(d, "balance") {
        None => false,
        Some(b) if b.value == "round_robin" => false,
        Some(b) if b.value == "hash" => true,
        Some(b) => {
            d.push(
                b.span,
                format!("unknown balance `{}`", b.value),
                Some("use \"round_robin\" or \"hash\""),
            );
            false
        }
    };
    let key = t.opt_str(d, "hash_key");
    let fallback = t.opt_str(d, "hash_fallback");
    let path_regex = t.opt_str(d, "hash_path_regex");
    let balance = match (hashed, key) {
        (true, Some(k)) => {
            let fallback = fallback.as_ref().map(|f| f.value.as_str());
            let path_regex = path_regex.as_ref().map(|r| r.value.as_str());
            match HashSpec::parse(&k.value, fallback, path_regex) {
                Ok(spec) => BalanceSpec::Hash(spec),
                Err(e) => {
                    d.push(
                        k.span,
                        format!("upstream `{name}`: {e}"),
                        Some("`$1`..`$9` are the capture groups of `hash_path_regex` on `$uri`"),
                    );
                    BalanceSpec::RoundRobin
                }
            }
        }
        (true, None) => {
            d.push(
                t.key_span("balance"),
                format!("upstream `{name}`: balance = \"hash\" needs `hash_key`"),
                Some("e.g. hash_key = \"$arg_productId\""),
            );
            BalanceSpec::RoundRobin
        }
        (false, Some(k)) => {
            d.push(
                k.span,
                "`hash_key` has no effect without balance = \"hash\"",
                Some("add balance = \"hash\""),
            );
            BalanceSpec::RoundRobin
        }
        (false, None) => BalanceSpec::RoundRobin,
    };
    let balance = with_balance_factor(d, &t, name, balance);
    let def = Timeouts::default();
    let timeouts = Timeouts {
        connect: t.duration(d, "connect_timeout").unwrap_or(def.connect),
        read: t.duration(d, "read_timeout").unwrap_or(def.read),
        write: t.duration(d, "write_timeout").unwrap_or(def.write),
        idle: t.duration(d, "keepalive_timeout").unwrap_or(def.idle),
    };
    let mut group = GroupSpec::new(name, Vec::new());
    let retries = t
        .int(d, "retries", 0..=16)
        .map_or(group.retries, |v| v.value as usize);
    let allow_empty = t.bool(d, "allow_empty", group.allow_empty);
    let consul = t.item("consul").and_then(|c| read_consul(d, name, c));
    let health_check = t
        .item("health_check")
        .and_then(|h| read_health_check(d, name, h));
    let tls = t.item("tls").and_then(|i| read_upstream_tls(d, i));
    let (protocol, h2) = read_protocol(d, &t, name, tls.is_some());
    check_health_fits(d, &t, name, protocol, health_check.as_ref());
    let hot = t
        .item("hot")
        .and_then(|h| read_hot(d, name, h, hashed, caches));
    if servers.is_empty() && consul.is_none() {
        d.push(
            t.span.clone(),
            format!("upstream `{name}` has no servers and no consul source"),
            Some(
                "add servers = [{ addr = \"127.0.0.1:9001\" }] or a [upstreams.NAME.consul] table",
            ),
        );
    }
    t.finish(d, &format!("upstream `{name}`"));
    group.servers = servers;
    group.balance = balance;
    group.timeouts = timeouts;
    group.retries = retries;
    group.consul = consul;
    group.allow_empty = allow_empty;
    group.health_check = health_check;
    group.tls = tls;
    group.hot = hot;
    group.protocol = protocol;
    group.h2 = h2;
    Some(group)
}

fn read_server(
    d: &mut Diagnostics,
    item: &Item,
    max_fails: u32,
    fail_timeout: Duration,
) -> Option<ServerSpec> {
    let t = Tbl::of(d, item, "server")?;
    let addr = t.req_str(d, "addr");
    let weight = t.int(d, "weight", 1..=10_000).map(|v| v.value as u32);
    let max_fails = t
        .int(d, "max_fails", 0..=1000)
        .map(|v| v.value as u32)
        .unwrap_or(max_fails);
    let fail_timeout = t.duration(d, "fail_timeout").unwrap_or(fail_timeout);
    let down = t.bool(d, "down", false);
    let backup = t.bool(d, "backup", false);
    t.finish(d, "server");
    let addr = addr?;
    match addr.value.parse::<SocketAddr>() {
        Ok(a) => {
            let mut s = ServerSpec::new(a);
            s.weight = weight.unwrap_or(s.weight);
            s.max_fails = max_fails;
            s.fail_timeout = fail_timeout;
            s.down = down;
            s.backup = backup;
            Some(s)
        }
        Err(_) => {
            d.push(
                addr.span,
                format!("invalid server address {:?}", addr.value),
                Some("write an IP literal and port, e.g. \"127.0.0.1:9001\" or \"[::1]:9001\""),
            );
            None
        }
    }
}

/// `tls = true`, or `tls = { sni = "...", verify = true, ca_file = "ca.pem" }`.
fn read_upstream_tls(d: &mut Diagnostics, item: &Item) -> Option<UpstreamTls> {
    if let Some(on) = item.as_bool() {
        return on.then(UpstreamTls::new);
    }
    let t = Tbl::of(d, item, "upstream `tls` (true, false or a table)")?;
    let mut tls = UpstreamTls::new();
    tls.sni = t.opt_str(d, "sni").map(|s| s.value);
    tls.verify = t.bool(d, "verify", true);
    if let Some(ca) = t.opt_str(d, "ca_file") {
        tls.ca_file = Some(ca.value.into());
        tls.ca_span = ca.span;
    }
    t.finish(d, "upstream `tls`");
    Some(tls)
}

fn read_consul(d: &mut Diagnostics, group: &str, item: &Item) -> Option<ConsulSpec> {
    let t = Tbl::of(d, item, "consul")?;
    let spec = read_consul_keys(d, &t, item);
    t.finish(d, &format!("upstream `{group}` consul"));
    spec
}

/// The Consul keys a Consul table has (`address`, `prefix`, `token_env`, `wait`,
/// `max_backoff`, `dump_file`, `strong_dependency`); the caller reads its own keys from
/// `t` and calls `finish`. Also read by `[server] config_source` (super::fleet).
pub(super) fn read_consul_keys(
    d: &mut Diagnostics,
    t: &Tbl<'_>,
    item: &Item,
) -> Option<ConsulSpec> {
    let address = t.opt_str(d, "address").map(|s| s.value);
    let prefix = t.req_str(d, "prefix");
    let token_env = t.opt_str(d, "token_env");
    let def = ConsulSpec::default();
    let wait = t.duration(d, "wait").unwrap_or(def.wait);
    let max_backoff = t.duration(d, "max_backoff").unwrap_or(def.max_backoff);
    let dump_file = t.opt_str(d, "dump_file").map(|s| s.value.into());
    let strong_dependency = t.bool(d, "strong_dependency", false);
    let address = address.unwrap_or(def.address);
    if !address.starts_with("http://") {
        d.push(
            item_span(item),
            format!("consul address {address:?} must start with http://"),
            Some("e.g. address = \"http://127.0.0.1:8500\""),
        );
    }
    let token = match token_env {
        Some(env) => match std::env::var(&env.value) {
            Ok(v) => Some(v),
            Err(_) => {
                d.push(
                    env.span,
                    format!(
                        "environment variable `{}` (consul token) is not set",
                        env.value
                    ),
                    Some("export it, or remove token_env for a Consul without ACLs"),
                );
                None
            }
        },
        None => None,
    };
    Some(ConsulSpec {
        address: address.trim_end_matches('/').to_string(),
        prefix: prefix?.value,
        token,
        wait,
        max_backoff,
        dump_file,
        strong_dependency,
    })
}
