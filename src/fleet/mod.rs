//! The fleet's configuration in Consul KV (docs/fleet.md): operators push a validated
//! version once (`edgeproxy config push`, [`ops`]); every node whose bootstrap file has
//! `[server] config_source = { consul = … }` follows it with blocking queries and applies
//! each version in place ([`agent`]), keeping the versions it applied on disk ([`store`])
//! and reporting what it runs under `status/<node>` ([`node`]). KV layout: [`manifest`].

pub mod agent;
mod canary;
mod inspect;
pub mod kv;
pub mod manifest;
pub mod node;
pub mod ops;
mod publish;
mod spec;
pub mod store;

pub use spec::FleetSpec;
