//! The integration suite: one test crate beside the `edgeproxy` binary (one build and one
//! link for every test), which Cargo builds before it and names in
//! `CARGO_BIN_EXE_edgeproxy`, so a test always runs the binary of the same build.
//!
//! One module per subject (the file names group them: `cache_*` the tiered cache engine,
//! `dist_*` and `upstream_*` the distribution tier, `edge_*` the nginx-edge settings,
//! `gateway_*` the gateway plugins, `page_*` the page plugin, ...); [`common`] is the one
//! harness: the real binary ([`common::edge::Edge`], on ports the OS picks), real
//! `redis-server`, nginx and Kafka-protocol processes, doubles of origins and Consul, all
//! on loopback, cleaned up on `Drop`, and awaited by conditions with deadlines.
//!
//! One test: `cargo test -p edgeproxy-cli --test integration -- log_flood::`.

mod common;

mod access_events;
mod admin_api;
mod cache_cluster;
mod cache_consul_seeds;
mod cache_levels;
mod cache_resilience;
mod cli;
mod client_abort;
mod client_limits;
mod config_check;
mod direct_answers;
mod dist_bounded;
mod dist_consul;
mod dist_hash;
mod dist_health;
mod dist_outage;
mod dist_passive;
mod edge_brotli;
mod edge_compression;
mod edge_framing;
mod edge_protocols;
mod edge_real_ip;
mod edge_redirect;
mod edge_sni_h2c;
mod fleet_config;
mod fleet_status_hang;
mod gateway_forged_headers;
mod gateway_gray_release;
mod gateway_ip_restriction;
mod gateway_jwt_auth;
mod gateway_rate_limit;
mod gateway_rate_limit_redis;
mod gateway_waf;
mod gateway_waf_body;
mod gateway_waf_strict;
mod grpc_errors;
mod grpc_proxy;
mod grpc_web;
mod hot_keys;
mod http_cache;
mod http_cache_cluster;
mod http_cache_reload;
mod lifecycle;
mod lingering_close;
mod log_flood;
mod metrics_e2e;
mod packaging;
mod page_e2e;
mod page_json;
mod page_missing;
mod page_reuse;
mod phases;
mod pipelining;
mod proxy_basics;
mod quickstart_browser;
mod reload_in_place;
mod reload_soak;
mod reload_state;
mod request_conformance;
mod request_smuggling;
mod resident;
mod streams;
mod tls;
mod upstream_consul;
mod upstream_ketama;
mod upstream_nginx;
mod upstream_tls;
