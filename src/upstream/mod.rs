//! Upstream groups: members, balancing (weighted round robin, consistent hash), passive
//! health, and live membership from Consul KV.

mod balancer;
mod group;
mod health;
mod key;
mod spec;

pub use group::{parse_hash_keys, UpstreamGroup};
pub use key::KeyTemplate;
pub use spec::{BalanceSpec, ConsulSpec, GroupSpec, HashSpec, ServerSpec, Timeouts};

use std::collections::BTreeMap;
use std::sync::Arc;

/// All upstream groups of a config, by name.
pub type Upstreams = Arc<BTreeMap<String, Arc<UpstreamGroup>>>;
