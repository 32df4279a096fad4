//! A connection of either kind (single node or cluster) and how it is opened.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use super::{RedisFail, RedisMode, RedisSpec};

/// A connection of either kind; cheap to clone.
#[derive(Clone)]
pub enum Conn {
    /// Single node, reconnecting by itself.
    Single(ConnectionManager),
    /// Cluster, following slot moves and failovers by itself.
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        cmd: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(cmd, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(cmd, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Opens a client of `spec`'s kind whose every call gives up after `response_timeout`.
pub async fn open(spec: &RedisSpec, response_timeout: Duration) -> Result<Conn, RedisFail> {
    let urls = spec.node_urls();
    match &spec.mode {
        RedisMode::Single(_) => {
            let url = urls.first().map(String::as_str).unwrap_or_default();
            let client = redis::Client::open(url)?;
            let cfg = ConnectionManagerConfig::new()
                .set_connection_timeout(spec.connect_timeout)
                .set_response_timeout(response_timeout)
                .set_number_of_retries(2)
                .set_max_delay(200);
            Ok(Conn::Single(
                ConnectionManager::new_with_config(client, cfg).await?,
            ))
        }
        RedisMode::Cluster(_) => {
            let client = ClusterClientBuilder::new(urls)
                .connection_timeout(spec.connect_timeout)
                .response_timeout(response_timeout)
                .retries(2)
                .min_retry_wait(10)
                .max_retry_wait(100)
                .build()?;
            Ok(Conn::Cluster(client.get_async_connection().await?))
        }
    }
}
