//! `kafka-log`: log phase; one compact access event per request to a Kafka topic (the seeds'
//! `lua-resty-kafka` feed into a Storm/Flink hot-product topology), the message key being
//! the request's hash key.
//!
//! ```toml
//! { name = "kafka-log", config = { brokers = ["10.0.0.5:9092"], topic = "access-log" } }
//! ```
//! Event (JSON): `{"time":1733100000123,"node":"dist-1","server":"distribution",
//! "route":"product","key":"42","status":200,"cache":"L1"}` — `time` in Unix ms, `cache`
//! the level that answered (`L1`, `L2`, `ORIGIN`, `STALE`, `EDGE`) or `null`.
//!
//! The key is the hash key the balancer used (distribution tier), or the `key` template
//! (`key = "$arg_productId"`, nginx variables as in `hash_key`: needed on the application
//! tier, which does not hash). Events are batched (`batch_size`, `linger`), compressed
//! (`gzip` default, `snappy`, `none`) and produced by rskafka on a thread of their own, to
//! the partition Kafka's default partitioner picks for the key. The queue is bounded
//! (`queue`): when the broker is slow or down it fills and further events are dropped and
//! counted — a request never waits for Kafka — and the producer reconnects by itself.
//! Reload in place: the producer (its thread, queue and connection) is carried to the next
//! generation while the producer's settings are unchanged (key: brokers, topic,
//! compression, batching, queue, timeout, client id — not `key`); a retired producer's
//! thread ends once its queue's last sender is dropped.
//! Counters: `edgeproxy_kafka_events_total{topic,result="sent|dropped|failed"}`,
//! `edgeproxy_kafka_connected{topic}`.

mod partition;
mod sender;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use edgeproxy::kit::async_trait;
use edgeproxy::kit::KeyTemplate;
use edgeproxy::kit::{de_duration, BoxError, LogEntry, Plugin, PluginFactory, RequestCtx, Shared};
use rskafka::client::partition::Compression;
use serde::{Deserialize, Serialize};

use sender::{Event, Producer};

pub use partition::murmur2;

/// Config of the `kafka-log` plugin.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaLogConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// Topic (must exist; default `access-log`).
    #[serde(default = "default_topic")]
    pub topic: String,
    /// Key template (nginx variables); default: the request's hash key.
    #[serde(default)]
    pub key: Option<String>,
    /// `gzip` (default), `snappy` or `none`.
    #[serde(default)]
    pub compression: CompressionName,
    /// Events per produce request at most (default 500).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// How long a batch waits for more events after its first (default 100ms).
    #[serde(default = "default_linger", deserialize_with = "de_duration")]
    pub linger: Duration,
    /// Events queued at most; more are dropped and counted (default 10000).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Bound for connecting and for one produce request (default 3s).
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
    /// Kafka client id (default `edgeproxy`).
    #[serde(default = "default_client_id")]
    pub client_id: String,
}

/// A compression codec by its config name.
#[derive(Deserialize, Default, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum CompressionName {
    /// No compression.
    None,
    /// gzip (every broker and client reads it).
    #[default]
    Gzip,
    /// Snappy.
    Snappy,
}

fn default_topic() -> String {
    "access-log".into()
}
fn default_batch_size() -> usize {
    500
}
fn default_linger() -> Duration {
    Duration::from_millis(100)
}
fn default_queue() -> usize {
    10_000
}
fn default_timeout() -> Duration {
    Duration::from_secs(3)
}
fn default_client_id() -> String {
    "edgeproxy".into()
}

/// Validated settings the producer thread runs with.
#[derive(Debug)]
pub struct Settings {
    brokers: Vec<String>,
    topic: String,
    compression: Compression,
    batch_size: usize,
    batch_bytes: usize,
    linger: Duration,
    queue: usize,
    timeout: Duration,
    client_id: String,
}

/// The `kafka-log` plugin.
pub struct KafkaLog {
    /// Carried across reloads while the settings are unchanged.
    feed: Arc<Feed>,
    key: Option<KeyTemplate>,
    node: Arc<str>,
}

/// The producer of one instance: started by the first event (after daemonizing, never
/// under `-t`); its thread ends when this is dropped.
pub struct Feed {
    settings: Arc<Settings>,
    producer: OnceLock<Option<Producer>>,
}

impl Feed {
    fn producer(&self) -> Option<&Producer> {
        self.producer
            .get_or_init(|| Producer::start(self.settings.clone()))
            .as_ref()
    }
}

/// Kafka's rule for topic names.
fn valid_topic(t: &str) -> bool {
    (1..=249).contains(&t.len())
        && t != "."
        && t != ".."
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn valid_broker(b: &str) -> bool {
    match b.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

impl PluginFactory for KafkaLog {
    const NAME: &'static str = "kafka-log";
    type Config = KafkaLogConfig;

    fn build(cfg: KafkaLogConfig, shared: &Shared) -> Result<Arc<dyn Plugin>, BoxError> {
        if cfg.brokers.is_empty() {
            return Err("brokers: at least one `host:port` is needed".into());
        }
        if let Some(b) = cfg.brokers.iter().find(|b| !valid_broker(b)) {
            return Err(
                format!("brokers: {b:?} is not `host:port` (e.g. \"127.0.0.1:9092\")").into(),
            );
        }
        if !valid_topic(&cfg.topic) {
            return Err(format!(
                "topic {:?}: 1-249 characters of [a-zA-Z0-9._-] (Kafka's rule)",
                cfg.topic
            )
            .into());
        }
        if !(1..=100_000).contains(&cfg.batch_size) {
            return Err(
                format!("batch_size = {} is out of range 1..=100000", cfg.batch_size).into(),
            );
        }
        if !(1..=10_000_000).contains(&cfg.queue) {
            return Err(format!("queue = {} is out of range 1..=10000000", cfg.queue).into());
        }
        if cfg.timeout.is_zero() {
            return Err("timeout must be more than 0 (e.g. \"3s\")".into());
        }
        let key = match &cfg.key {
            Some(k) => Some(KeyTemplate::parse(k).map_err(|e| format!("key: {e}"))?),
            None => None,
        };
        let compression = match cfg.compression {
            CompressionName::None => Compression::NoCompression,
            CompressionName::Gzip => Compression::Gzip,
            CompressionName::Snappy => Compression::Snappy,
        };
        let settings = Settings {
            brokers: cfg.brokers,
            topic: cfg.topic,
            compression,
            batch_size: cfg.batch_size,
            batch_bytes: 512 << 10,
            linger: cfg.linger,
            queue: cfg.queue,
            timeout: cfg.timeout,
            client_id: cfg.client_id,
        };
        let feed = shared.carry(&format!("{settings:?}"), || Feed {
            settings: Arc::new(settings),
            producer: OnceLock::new(),
        });
        Ok(Arc::new(KafkaLog {
            feed,
            key,
            node: shared.node_name.clone(),
        }))
    }
}

/// The event's JSON.
#[derive(Serialize)]
struct Doc<'a> {
    time: i64,
    node: &'a str,
    server: &'a str,
    route: Option<&'a str>,
    key: Option<&'a str>,
    status: u16,
    cache: Option<&'static str>,
}

#[async_trait]
impl Plugin for KafkaLog {
    async fn log(&self, entry: &LogEntry<'_>, ctx: &RequestCtx) {
        let Some(producer) = self.feed.producer() else {
            return;
        };
        let mut own = String::new();
        let key = match &self.key {
            Some(t) => t
                .eval(entry.request, ctx.client_addr, &mut own)
                .then_some(own.as_str()),
            None => ctx.hash_key.as_deref(),
        };
        let time = chrono::Utc::now();
        let doc = Doc {
            time: time.timestamp_millis(),
            node: &self.node,
            server: &ctx.server,
            route: ctx.route.as_deref(),
            key,
            status: entry.status,
            cache: ctx.cache_level.map(|l| l.as_str()),
        };
        let Ok(value) = serde_json::to_vec(&doc) else {
            return;
        };
        producer.send(Event {
            key: key.map(|k| k.as_bytes().to_vec()),
            value,
            time,
        });
    }
}

#[cfg(test)]
mod tests;
