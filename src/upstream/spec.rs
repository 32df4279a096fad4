//! Validated, typed description of an upstream group (read by `config`, run by
//! [`UpstreamGroup`](super::UpstreamGroup)); defaults are written here once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use super::hot_spec::{FirstHopSpec, HotSpec};
use crate::request::template::{Template, TemplateError};

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
    /// TLS to the servers, if configured.
    pub tls: Option<super::UpstreamTls>,
    /// Hot-key detection and handling (`[upstreams.NAME.hot]`), if configured.
    pub hot: Option<HotSpec>,
    /// The HTTP version spoken to the servers.
    pub protocol: super::UpstreamProtocol,
    /// HTTP/2 connection settings (when `protocol` may be HTTP/2).
    pub h2: super::H2Settings,
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

/// Consistent-hash key and fallback, parsed once when the config is read.
#[derive(Debug, Clone)]
pub struct HashSpec {
    /// Key template using nginx-style variables, e.g. `$arg_productId` (its `path_regex`,
    /// if any, supplies `$1`..`$9`).
    pub key: Template,
    /// Key template used when `key` evaluates to empty; `None` = round robin.
    pub fallback: Option<Template>,
    /// `hash_balance_factor`: no member takes more than this times its share of the
    /// group's requests in flight (consistent hashing with bounded loads); `None` = plain
    /// ketama.
    pub balance_factor: Option<f64>,
}

impl HashSpec {
    /// Parses `key` and `fallback`; `$1`..`$9` refer to groups of `path_regex` on the path.
    pub fn parse(
        key: &str,
        fallback: Option<&str>,
        path_regex: Option<&str>,
    ) -> Result<Self, TemplateError> {
        let key = Template::parse_with_path_regex(key, path_regex).map_err(|e| e.context("key"))?;
        let fallback = match fallback {
            Some(f) => Some(
                Template::parse_with_path_regex(f, path_regex)
                    .map_err(|e| e.context("fallback"))?,
            ),
            None => None,
        };
        Ok(HashSpec {
            key,
            fallback,
            balance_factor: None,
        })
    }
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

impl Default for ConsulSpec {
    /// A local agent (`http://127.0.0.1:8500`), no prefix or token, 30 s blocking wait,
    /// 10 s backoff cap, no dump file, weak dependency.
    fn default() -> Self {
        ConsulSpec {
            address: "http://127.0.0.1:8500".to_string(),
            prefix: String::new(),
            token: None,
            wait: Duration::from_secs(30),
            max_backoff: Duration::from_secs(10),
            dump_file: None,
            strong_dependency: false,
        }
    }
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

impl HealthCheckSpec {
    /// Default time between check rounds.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
    /// Default bound for one check.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
    /// Default consecutive successes to come back.
    pub const DEFAULT_RISE: u32 = 2;
    /// Default consecutive failures to go down.
    pub const DEFAULT_FALL: u32 = 3;

    /// A check of `kind` with the defaults: every 2 s, 1 s timeout, rise 2, fall 3.
    pub fn new(kind: HealthCheckKind) -> Self {
        HealthCheckSpec {
            kind,
            interval: Self::DEFAULT_INTERVAL,
            timeout: Self::DEFAULT_TIMEOUT,
            rise: Self::DEFAULT_RISE,
            fall: Self::DEFAULT_FALL,
        }
    }
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
    /// [`Timeouts::default`], 2 retries, no Consul, no active checks, no empty sets,
    /// HTTP/1.1.
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
            tls: None,
            hot: None,
            protocol: super::UpstreamProtocol::H1,
            h2: super::H2Settings::default(),
        }
    }

    /// The same group balanced by consistent hash on `key` (with an optional fallback).
    pub fn hashed(mut self, key: &str, fallback: Option<&str>) -> Result<Self, TemplateError> {
        self.balance = BalanceSpec::Hash(HashSpec::parse(key, fallback, None)?);
        Ok(self)
    }
}

impl ServerSpec {
    /// nginx's default `max_fails`.
    pub const DEFAULT_MAX_FAILS: u32 = 1;
    /// nginx's default `fail_timeout`.
    pub const DEFAULT_FAIL_TIMEOUT: Duration = Duration::from_secs(10);

    /// A server with nginx's defaults: weight 1, `max_fails` 1, `fail_timeout` 10s.
    pub fn new(addr: SocketAddr) -> Self {
        ServerSpec {
            addr,
            weight: 1,
            max_fails: Self::DEFAULT_MAX_FAILS,
            fail_timeout: Self::DEFAULT_FAIL_TIMEOUT,
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
