//! The HTTP response cache across a reload in place: a cache whose table is unchanged keeps
//! its stored responses (no origin fetch after the reload), while routes change.

use std::process::Command;

use crate::common::curl::curl;
use crate::common::edge::{binary, Edge};
use crate::common::scripted::{cached_config, ScriptedOrigin};

#[test]
fn a_reload_keeps_the_stored_responses_of_an_unchanged_cache() {
    let origin = ScriptedOrigin::start();
    origin.script("/a", 200, &[("cache-control", "max-age=600")], "A1");
    let server = "[server]\npid_file = \"{dir}/edge.pid\"\nupgrade_sock = \"{dir}/edge.sock\"\n";
    let caches = "[caches.main]\n[caches.main.http]\n";
    let cfg = format!("{server}{}", cached_config(origin.addr, caches));
    let edge = Edge::start(&cfg);
    let url = format!("http://{}/a", edge.addr());
    let x_cache = || curl(&[], &url).header("x-cache").unwrap_or("-").to_string();
    assert_eq!(x_cache(), "MISS");
    assert_eq!(x_cache(), "HIT");

    // A new route before the cached one; the cache's table is the same.
    let dir = edge.dir.path().display().to_string();
    let changed = cfg.replace("{dir}", &dir).replace(
        "[[servers.routes]]\npath = \"/purge\"",
        "[[servers.routes]]\npath = \"/new\"\nplugins = [{ name = \"respond\", config = { body = \"new\" } }]\n\n[[servers.routes]]\npath = \"/purge\"",
    );
    let conf = edge.path("edgeproxy.toml");
    std::fs::write(&conf, changed).unwrap();
    let out = Command::new(binary())
        .args(["-s", "reload", "-c"])
        .arg(&conf)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(
        curl(&[], &format!("http://{}/new", edge.addr())).text(),
        "new"
    );
    assert_eq!(x_cache(), "HIT", "the stored response outlives the reload");
    assert_eq!(origin.hits("/a"), 1);
}
