//! Upstream groups: members, balancing (weighted round robin, consistent hash), passive
//! health, and live membership from Consul KV.
//!
//! Start-up for a group with Consul: `initial_members(&spec)` → `group.set_members(..)` →
//! spawn `ConsulWatcher::new(group, index)?.run()` in a background service.

mod active;
mod balancer;
mod clock;
pub mod consul;
pub mod discovery;
pub mod dump;
mod dump_writer;
mod failures;
mod group;
mod health;
mod hot_spec;
mod load;
mod protocol;
mod spec;
mod status;
mod tls;
pub mod upsync;
mod watcher;

pub use active::{run_health_checks, CheckError};
pub use consul::ConsulError;
pub use failures::{FailureSnapshot, LastError, MAX_ERROR_LEN};
pub use group::{KeySource, PeerState, UpstreamGroup};
pub use load::LoadTicket;
pub use protocol::{H2Settings, UpstreamProtocol};
pub use spec::{
    BalanceSpec, ConsulSpec, FirstHopSpec, GroupSpec, HashSpec, HealthCheckKind, HealthCheckSpec,
    HotSpec, ServerSpec, Timeouts,
};
pub use status::{WatchSnapshot, WatchStatus};
pub use tls::{CaError, UpstreamTls};
pub use upsync::NodeError;
pub use watcher::{initial_members, ConsulWatcher};

use std::collections::BTreeMap;
use std::sync::Arc;

/// All upstream groups of a config, by name.
pub type Upstreams = Arc<BTreeMap<String, Arc<UpstreamGroup>>>;
