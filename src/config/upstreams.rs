//! `[upstreams.NAME]` sections → `GroupSpec`.

use std::net::SocketAddr;
use std::time::Duration;

use toml_edit::Item;

use super::diag::Diagnostics;
use super::health::read_health_check;
use super::reader::{item_span, table_items, Tbl};
use crate::upstream::{
    parse_hash_keys, BalanceSpec, ConsulSpec, GroupSpec, HashSpec, ServerSpec, Timeouts,
};

/// Reads every upstream group of the document.
pub fn read_upstreams(d: &mut Diagnostics, item: Option<&Item>) -> Vec<GroupSpec> {
    let Some(item) = item else {
        return Vec::new();
    };
    let Some(table) = item.as_table_like() else {
        d.error(item_span(item), "`upstreams` must be a table of groups");
        return Vec::new();
    };
    let mut groups = Vec::new();
    for (name, group) in table.iter() {
        if let Some(g) = read_group(d, name, group) {
            groups.push(g);
        }
    }
    groups
}

fn read_group(d: &mut Diagnostics, name: &str, item: &Item) -> Option<GroupSpec> {
    let t = Tbl::of(d, item, &format!("upstream `{name}`"))?;
    let max_fails = t
        .int(d, "max_fails", 0..=1000)
        .map(|v| v.value as u32)
        .unwrap_or(1);
    let fail_timeout = t
        .duration(d, "fail_timeout")
        .unwrap_or(Duration::from_secs(10));
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
    let balance = match t.opt_str(d, "balance") {
        None => BalanceSpec::RoundRobin,
        Some(b) if b.value == "round_robin" => BalanceSpec::RoundRobin,
        Some(b) if b.value == "hash" => BalanceSpec::Hash(HashSpec {
            key: String::new(),
            fallback: None,
            path_regex: None,
        }),
        Some(b) => {
            d.push(
                b.span,
                format!("unknown balance `{}`", b.value),
                Some("use \"round_robin\" or \"hash\""),
            );
            BalanceSpec::RoundRobin
        }
    };
    let key = t.opt_str(d, "hash_key");
    let fallback = t.opt_str(d, "hash_fallback");
    let path_regex = t.opt_str(d, "hash_path_regex");
    let balance = match (balance, key) {
        (BalanceSpec::Hash(_), Some(k)) => {
            let spec = HashSpec {
                key: k.value,
                fallback: fallback.map(|f| f.value),
                path_regex: path_regex.map(|r| r.value),
            };
            if let Err(e) = parse_hash_keys(&spec) {
                d.push(
                    k.span,
                    format!("upstream `{name}`: {e}"),
                    Some("nginx variables: $arg_NAME, $http_NAME, $cookie_NAME, $uri, $request_uri, $remote_addr, $host, $1..$9 (with hash_path_regex)"),
                );
            }
            BalanceSpec::Hash(spec)
        }
        (BalanceSpec::Hash(_), None) => {
            d.push(
                t.key_span("balance"),
                format!("upstream `{name}`: balance = \"hash\" needs `hash_key`"),
                Some("e.g. hash_key = \"$arg_productId\""),
            );
            BalanceSpec::RoundRobin
        }
        (BalanceSpec::RoundRobin, Some(k)) => {
            d.push(
                k.span,
                "`hash_key` has no effect without balance = \"hash\"",
                Some("add balance = \"hash\""),
            );
            BalanceSpec::RoundRobin
        }
        (b, None) => b,
    };
    let def = Timeouts::default();
    let timeouts = Timeouts {
        connect: t.duration(d, "connect_timeout").unwrap_or(def.connect),
        read: t.duration(d, "read_timeout").unwrap_or(def.read),
        write: t.duration(d, "write_timeout").unwrap_or(def.write),
        idle: t.duration(d, "keepalive_timeout").unwrap_or(def.idle),
    };
    let retries = t
        .int(d, "retries", 0..=16)
        .map(|v| v.value as usize)
        .unwrap_or(2);
    let allow_empty = t.bool(d, "allow_empty", false);
    let consul = t.item("consul").and_then(|c| read_consul(d, name, c));
    let health_check = t
        .item("health_check")
        .and_then(|h| read_health_check(d, name, h));
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
    Some(GroupSpec {
        name: name.to_string(),
        servers,
        balance,
        timeouts,
        retries,
        consul,
        allow_empty,
        health_check,
    })
}

fn read_server(
    d: &mut Diagnostics,
    item: &Item,
    max_fails: u32,
    fail_timeout: Duration,
) -> Option<ServerSpec> {
    let t = Tbl::of(d, item, "server")?;
    let addr = t.req_str(d, "addr");
    let weight = t
        .int(d, "weight", 1..=10_000)
        .map(|v| v.value as u32)
        .unwrap_or(1);
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
        Ok(a) => Some(ServerSpec {
            addr: a,
            weight,
            max_fails,
            fail_timeout,
            down,
            backup,
        }),
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

fn read_consul(d: &mut Diagnostics, group: &str, item: &Item) -> Option<ConsulSpec> {
    let t = Tbl::of(d, item, "consul")?;
    let address = t.opt_str(d, "address").map(|s| s.value);
    let prefix = t.req_str(d, "prefix");
    let token_env = t.opt_str(d, "token_env");
    let wait = t.duration(d, "wait").unwrap_or(Duration::from_secs(30));
    let max_backoff = t
        .duration(d, "max_backoff")
        .unwrap_or(Duration::from_secs(10));
    let dump_file = t.opt_str(d, "dump_file").map(|s| s.value.into());
    let strong_dependency = t.bool(d, "strong_dependency", false);
    t.finish(d, &format!("upstream `{group}` consul"));
    let address = address.unwrap_or_else(|| "http://127.0.0.1:8500".to_string());
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
