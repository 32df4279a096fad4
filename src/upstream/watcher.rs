//! Keeps a group's members in step with Consul KV (nginx-upsync-module semantics).
//!
//! Blocking queries follow the Consul documentation: the index comes from `X-Consul-Index`,
//! is reset to 0 when it goes backwards, index 0 is never sent as a wait (the read after a
//! reset is a plain read), returns without change are expected (and not re-applied), the
//! loop is rate limited, errors back off exponentially up to `max_backoff`, and a failed
//! read never changes the members. An empty successful read is applied only with
//! `allow_empty`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::consul::{ConsulClient, ConsulError};
use super::dump;
use super::dump_writer::{self, DumpWriter};
use super::group::UpstreamGroup;
use super::spec::{ConsulSpec, GroupSpec, ServerSpec};
use super::status::WatchStatus;
use super::upsync::parse_nodes;

/// Minimum time between two reads (Consul advises rate limiting the watch loop).
const MIN_INTERVAL: Duration = Duration::from_millis(50);
/// First error backoff; doubles per consecutive error up to `max_backoff`.
const BASE_BACKOFF: Duration = Duration::from_millis(100);

/// The members to start with, and the Consul index to watch from (0 = start with a plain
/// read). Reads Consul once; when it is unreachable, uses the dump file if it has servers,
/// else the static seed servers, unless `strong_dependency` is set (then this is an error
/// saying why). Groups without Consul get their static servers and index 0.
pub async fn initial_members(spec: &GroupSpec) -> Result<(Vec<ServerSpec>, u64), ConsulError> {
    let Some(consul) = &spec.consul else {
        return Ok((spec.servers.clone(), 0));
    };
    let client = ConsulClient::new(consul.clone())?;
    match client.read(0).await {
        Ok(read) => {
            let nodes = parse_nodes(&spec.name, &consul.prefix, &read.entries);
            let index = read.index.max(1);
            if nodes.is_empty() && !spec.allow_empty {
                tracing::warn!(group = %spec.name, prefix = %consul.prefix,
                    "Consul prefix has no servers and allow_empty is off: starting from the dump file or static servers");
                return Ok((fallback_members(spec, consul), index));
            }
            log_members(&spec.name, "members from Consul", &nodes);
            if let Some(path) = &consul.dump_file {
                dump_writer::write(&spec.name, path, Arc::new(nodes.clone())).await;
            }
            Ok((nodes, index))
        }
        Err(e) if consul.strong_dependency => Err(ConsulError::StrongDependency {
            group: spec.name.clone(),
            source: Box::new(e),
        }),
        Err(e) => {
            tracing::warn!(group = %spec.name, "first Consul read failed: {e}");
            Ok((fallback_members(spec, consul), 0))
        }
    }
}

fn fallback_members(spec: &GroupSpec, consul: &ConsulSpec) -> Vec<ServerSpec> {
    if let Some(path) = &consul.dump_file {
        match dump::load(path) {
            Ok(servers) if !servers.is_empty() => {
                log_members(&spec.name, "members from dump file", &servers);
                return servers;
            }
            Ok(_) => {
                tracing::warn!(group = %spec.name, file = %path.display(), "dump file has no servers")
            }
            Err(e) => {
                tracing::warn!(group = %spec.name, file = %path.display(), "cannot read dump file: {e}")
            }
        }
    }
    log_members(&spec.name, "static seed members", &spec.servers);
    spec.servers.clone()
}

fn log_members(group: &str, what: &str, servers: &[ServerSpec]) {
    let list: Vec<String> = servers
        .iter()
        .map(|s| {
            let flags = match (s.down, s.backup) {
                (true, true) => " down backup",
                (true, false) => " down",
                (false, true) => " backup",
                (false, false) => "",
            };
            format!("{} weight={}{flags}", s.addr, s.weight)
        })
        .collect();
    tracing::info!(
        group,
        count = servers.len(),
        "{what}: [{}]",
        list.join(", ")
    );
}

/// Watches one group's Consul prefix and applies changes to the group. One per group.
pub struct ConsulWatcher {
    group: Arc<UpstreamGroup>,
    client: ConsulClient,
    index: u64,
    status: Arc<WatchStatus>,
    empty_warned: bool,
    /// Started by `run` when the group has a dump file.
    dump: Option<DumpWriter>,
}

impl ConsulWatcher {
    /// A watcher for `group`, starting at `index` (from [`initial_members`]; 0 = plain read
    /// first). Fails if the group has no Consul configuration.
    pub fn new(group: Arc<UpstreamGroup>, index: u64) -> Result<Self, ConsulError> {
        let spec = group
            .spec()
            .consul
            .clone()
            .ok_or_else(|| ConsulError::NotConfigured(group.name().to_string()))?;
        let status = Arc::new(WatchStatus::default());
        status.set_index(index);
        status.set_members(group.members().len());
        Ok(ConsulWatcher {
            client: ConsulClient::new(spec)?,
            group,
            index,
            status,
            empty_warned: false,
            dump: None,
        })
    }

    /// The name of the watched group.
    pub fn group_name(&self) -> &str {
        self.group.name()
    }

    /// The watcher's live status.
    pub fn status(&self) -> Arc<WatchStatus> {
        self.status.clone()
    }

    /// Watches forever. Cancel by dropping the future (aborting its task).
    pub async fn run(mut self) {
        if let Some(path) = &self.client.spec().dump_file {
            self.dump = Some(DumpWriter::spawn(
                self.group.name().to_string(),
                path.clone(),
            ));
        }
        let mut last_start: Option<Instant> = None;
        loop {
            if let Some(t) = last_start {
                if let Some(rest) = MIN_INTERVAL.checked_sub(t.elapsed()) {
                    tokio::time::sleep(rest).await;
                }
            }
            last_start = Some(Instant::now());
            if let Err(e) = self.step().await {
                let n = self.status.error(e.to_string());
                let backoff = backoff(n, self.client.spec().max_backoff);
                tracing::warn!(group = %self.group.name(), consecutive_errors = n,
                    "Consul watch failed, keeping the last member set, retrying in {backoff:?}: {e}");
                tokio::time::sleep(backoff).await;
            }
        }
    }

    /// One read; applies the result if it changed the member set.
    async fn step(&mut self) -> Result<(), ConsulError> {
        self.status.request();
        let read = self.client.read(self.index).await?;
        self.status.success();
        let name = self.group.name().to_string();
        self.index = if read.index < self.index {
            tracing::warn!(group = %name, old = self.index, new = read.index,
                "Consul index went backwards; resetting the watch");
            0
        } else {
            read.index.max(1)
        };
        self.status.set_index(self.index);
        let spec = self.client.spec().clone();
        let nodes = parse_nodes(&name, &spec.prefix, &read.entries);
        if nodes.is_empty() && !self.group.spec().allow_empty {
            if !self.empty_warned && !self.group.members().is_empty() {
                tracing::warn!(group = %name, prefix = %spec.prefix,
                    "Consul prefix has no servers and allow_empty is off: keeping the last member set");
            }
            self.empty_warned = true;
            return Ok(());
        }
        self.empty_warned = false;
        let mut current = self.group.members().to_vec();
        current.sort_by_key(|s| s.addr);
        if current != nodes {
            log_members(&name, "members changed", &nodes);
            self.status.changed(nodes.len());
            // Routing first; the dump file (fsync) is written in the background.
            self.group.set_members(nodes.clone());
            if let Some(dump) = &self.dump {
                dump.write(nodes);
            }
        }
        Ok(())
    }
}

fn backoff(consecutive: u64, max: Duration) -> Duration {
    let shift = consecutive.saturating_sub(1).min(20) as u32;
    BASE_BACKOFF
        .saturating_mul(1 << shift)
        .min(max.max(BASE_BACKOFF))
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_and_caps() {
        let max = super::Duration::from_secs(2);
        let ms = |n| super::backoff(n, max).as_millis();
        assert_eq!(
            [ms(1), ms(2), ms(3), ms(5), ms(100)],
            [100, 200, 400, 1600, 2000]
        );
    }
}
