//! Validated, typed description of an upstream group (built by `config::validate`).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// One upstream group as configured.
#[derive(Debug, Clone)]
pub struct GroupSpec {
    /// Group name (referenced by routes and plugins).
    pub name: String,
    /// Static servers: the whole set, or the seed set when Consul is configured.
    pub servers: Vec<ServerSpec>,
    /// How a peer is chosen.
    pub balance: BalanceSpec,
    /// Connection timeouts and keep-alive.
    pub timeouts: Timeouts,
    /// How many other peers to try after a connect failure.
    pub retries: usize,
    /// Live membership from Consul KV, if configured.
    pub consul: Option<ConsulSpec>,
    /// Whether an empty member set from discovery may be applied.
    pub allow_empty: bool,
    /// Active health checks, if configured.
    pub health_check: Option<HealthCheckSpec>,
}

/// One upstream server and its nginx-upsync-style attributes.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerSpec {
    /// Address (IP literal and port).
    pub addr: SocketAddr,
    /// Relative weight, at least 1.
    pub weight: u32,
    /// Failures within `fail_timeout` that take the server out (0 = never).
    pub max_fails: u32,
    /// Window for counting failures, and how long the server stays out.
    pub fail_timeout: Duration,
    /// Marked down by the operator: never selected.
    pub down: bool,
    /// Only used when every non-backup server is unavailable.
    pub backup: bool,
}

/// Peer selection strategy.
#[derive(Debug, Clone)]
pub enum BalanceSpec {
    /// Weighted round robin.
    RoundRobin,
    /// Consistent hash (ketama) on a request key.
    Hash(HashSpec),
}

/// Consistent-hash key and fallback, as written in the config.
#[derive(Debug, Clone)]
pub struct HashSpec {
    /// Key template using nginx-style variables, e.g. `$arg_productId`.
    pub key: String,
    /// Key template used when `key` evaluates to empty; `None` = round robin.
    pub fallback: Option<String>,
    /// Regex matched against the decoded path; its groups are `$1`..`$9` in the key templates.
    pub path_regex: Option<String>,
}

/// Upstream connection timeouts.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// TCP connect timeout.
    pub connect: Duration,
    /// Read timeout (per read).
    pub read: Duration,
    /// Write timeout (per write).
    pub write: Duration,
    /// How long an idle keep-alive connection is kept in the pool.
    pub idle: Duration,
}

/// Where and how to watch Consul KV for a group's members.
#[derive(Debug, Clone)]
pub struct ConsulSpec {
    /// Consul HTTP address, e.g. `http://127.0.0.1:8500`.
    pub address: String,
    /// KV prefix; keys are `<prefix><host>:<port>`.
    pub prefix: String,
    /// ACL token (read from the env var named in the config).
    pub token: Option<String>,
    /// Blocking-query wait.
    pub wait: Duration,
    /// Cap for the error backoff.
    pub max_backoff: Duration,
    /// File the last known member set is written to, and loaded from when Consul is down.
    pub dump_file: Option<PathBuf>,
    /// Refuse to start when Consul cannot be read.
    pub strong_dependency: bool,
}

/// Active health checks of every member of a group.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthCheckSpec {
    /// What a check does.
    pub kind: HealthCheckKind,
    /// Time between the starts of two check rounds.
    pub interval: Duration,
    /// Bound for one check (connect, send, and the status line).
    pub timeout: Duration,
    /// Consecutive successes that bring an actively-down peer back.
    pub rise: u32,
    /// Consecutive failures that take a peer out.
    pub fall: u32,
}

/// The kind of an active health check.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthCheckKind {
    /// A TCP connect succeeds.
    Tcp,
    /// `GET path` answers `expect_status`.
    Http {
        /// Request path (with query, if any).
        path: String,
        /// Status that counts as healthy.
        expect_status: u16,
    },
}

impl GroupSpec {
    /// A round-robin group over `servers` with the config's defaults: timeouts from
    /// [`Timeouts::default`], 2 retries, no Consul, no active checks, no empty sets.
    pub fn new(name: impl Into<String>, servers: Vec<ServerSpec>) -> Self {
        GroupSpec {
            name: name.into(),
            servers,
            balance: BalanceSpec::RoundRobin,
            timeouts: Timeouts::default(),
            retries: 2,
            consul: None,
            allow_empty: false,
            health_check: None,
        }
    }

    /// The same group balanced by consistent hash on `key` (with an optional fallback).
    pub fn hashed(mut self, key: &str, fallback: Option<&str>) -> Self {
        self.balance = BalanceSpec::Hash(HashSpec {
            key: key.to_string(),
            fallback: fallback.map(str::to_string),
            path_regex: None,
        });
        self
    }
}

impl ServerSpec {
    /// A server with nginx's defaults: weight 1, `max_fails` 1, `fail_timeout` 10s.
    pub fn new(addr: SocketAddr) -> Self {
        ServerSpec {
            addr,
            weight: 1,
            max_fails: 1,
            fail_timeout: Duration::from_secs(10),
            down: false,
            backup: false,
        }
    }

    /// The same server with another weight.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = weight;
        self
    }
}

impl Default for Timeouts {
    /// Connect 2s; read, write and keep-alive idle 60s.
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(2),
            read: Duration::from_secs(60),
            write: Duration::from_secs(60),
            idle: Duration::from_secs(60),
        }
    }
}
