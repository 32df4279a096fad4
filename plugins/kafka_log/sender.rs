//! The producer side of `kafka-log`: a bounded queue the log phase only ever `try_send`s
//! into, and one thread with its own single-thread tokio runtime that batches events,
//! produces them with rskafka and reconnects on its own.
//!
//! Nothing here can make a request wait: a full queue drops the event (counted as
//! `dropped`), a batch the broker did not take within `timeout` is lost (counted as
//! `failed`) and the connection is rebuilt for the next batch, after a capped back-off.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use once_cell::sync::Lazy;
use rskafka::client::partition::{PartitionClient, UnknownTopicHandling};
use rskafka::client::ClientBuilder;
use rskafka::record::Record;
use rskafka::BackoffConfig;
use tokio::sync::mpsc::{self, error::TrySendError, Receiver};
use tokio::time::{sleep, timeout, timeout_at, Instant};

use super::partition;
use super::Settings;

static EVENTS: Lazy<prometheus::IntCounterVec> = Lazy::new(|| {
    edgeproxy::kit::metrics::counter_vec(
        "edgeproxy_kafka_events_total",
        "Access events by topic and outcome: sent (acknowledged by the broker), dropped \
         (queue full: broker slow or down), failed (a batch the broker did not take)",
        &["topic", "result"],
    )
});

static CONNECTED: Lazy<prometheus::IntGaugeVec> = Lazy::new(|| {
    edgeproxy::kit::metrics::gauge_vec(
        "edgeproxy_kafka_connected",
        "1 while the access-event producer has a working connection to the topic's partitions",
        &["topic"],
    )
});

/// One access event, ready to send.
pub struct Event {
    /// Message key (the hash key), if any.
    pub key: Option<Vec<u8>>,
    /// Message value (the JSON event).
    pub value: Vec<u8>,
    /// Event time.
    pub time: DateTime<Utc>,
}

/// Counters of one producer, resolved once.
#[derive(Clone)]
struct Counters {
    sent: prometheus::IntCounter,
    dropped: prometheus::IntCounter,
    failed: prometheus::IntCounter,
    connected: prometheus::IntGauge,
}

impl Counters {
    fn new(topic: &str) -> Self {
        Counters {
            sent: EVENTS.with_label_values(&[topic, "sent"]),
            dropped: EVENTS.with_label_values(&[topic, "dropped"]),
            failed: EVENTS.with_label_values(&[topic, "failed"]),
            connected: CONNECTED.with_label_values(&[topic]),
        }
    }
}

/// The request side: a handle on the bounded queue.
pub struct Producer {
    tx: mpsc::Sender<Event>,
    counters: Counters,
}

impl Producer {
    /// Starts the producer thread for `settings`; `None` if the thread cannot be spawned.
    pub fn start(settings: Arc<Settings>) -> Option<Producer> {
        let counters = Counters::new(&settings.topic);
        let (tx, rx) = mpsc::channel(settings.queue);
        let c = counters.clone();
        let spawned = std::thread::Builder::new()
            .name("kafka-log".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                match rt {
                    Ok(rt) => rt.block_on(run(settings, rx, c)),
                    Err(e) => tracing::error!("kafka-log: cannot start its runtime: {e}"),
                }
            });
        match spawned {
            Ok(_) => Some(Producer { tx, counters }),
            Err(e) => {
                tracing::error!("kafka-log: cannot start its thread: {e}");
                None
            }
        }
    }

    /// Queues `event`, or drops and counts it when the queue is full. Never waits.
    pub fn send(&self, event: Event) {
        match self.tx.try_send(event) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => self.counters.dropped.inc(),
            Err(TrySendError::Closed(_)) => self.counters.failed.inc(),
        }
    }
}

/// A connection to the broker holding the topic: one client per partition.
struct Conn {
    partitions: Vec<PartitionClient>,
    next: AtomicUsize,
}

impl Conn {
    async fn open(s: &Settings) -> Result<Conn, String> {
        let backoff = BackoffConfig {
            init_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(500),
            base: 2.0,
            deadline: Some(s.timeout),
        };
        let client = ClientBuilder::new(s.brokers.clone())
            .client_id(s.client_id.as_str())
            .backoff_config(backoff)
            .build()
            .await
            .map_err(|e| format!("cannot reach the brokers: {e}"))?;
        let topics = client
            .list_topics()
            .await
            .map_err(|e| format!("cannot list topics: {e}"))?;
        let Some(topic) = topics.into_iter().find(|t| t.name == s.topic) else {
            return Err(format!("topic `{}` does not exist on the broker", s.topic));
        };
        let mut partitions = Vec::new();
        for p in topic.partitions {
            let pc = client
                .partition_client(s.topic.as_str(), p, UnknownTopicHandling::Error)
                .await
                .map_err(|e| format!("partition {p}: {e}"))?;
            partitions.push(pc);
        }
        if partitions.is_empty() {
            return Err(format!("topic `{}` has no partitions", s.topic));
        }
        Ok(Conn {
            partitions,
            next: AtomicUsize::new(0),
        })
    }

    /// Produces `batch`: keyed events to their key's partition, the others round robin.
    async fn produce(&self, s: &Settings, batch: Vec<Event>) -> Result<(), String> {
        let n = self.partitions.len();
        let mut by_partition: BTreeMap<usize, Vec<Record>> = BTreeMap::new();
        for e in batch {
            let p = match &e.key {
                Some(k) => partition::for_key(k, n),
                None => self.next.fetch_add(1, Ordering::Relaxed) % n,
            };
            by_partition.entry(p).or_default().push(Record {
                key: e.key,
                value: Some(e.value),
                headers: BTreeMap::new(),
                timestamp: e.time,
            });
        }
        let sends = by_partition
            .into_iter()
            .map(|(p, records)| self.partitions[p].produce(records, s.compression));
        for r in futures::future::join_all(sends).await {
            r.map_err(|e| format!("produce failed: {e}"))?;
        }
        Ok(())
    }
}

/// Collects up to `batch_size` events (or `batch_bytes`), waiting at most `linger` after
/// the first; `None` when the plugin is gone.
async fn next_batch(s: &Settings, rx: &mut Receiver<Event>) -> Option<Vec<Event>> {
    let first = rx.recv().await?;
    let mut bytes = first.value.len();
    let mut batch = vec![first];
    let deadline = Instant::now() + s.linger;
    while batch.len() < s.batch_size && bytes < s.batch_bytes {
        match timeout_at(deadline, rx.recv()).await {
            Ok(Some(e)) => {
                bytes += e.value.len() + e.key.as_ref().map_or(0, Vec::len);
                batch.push(e);
            }
            Ok(None) | Err(_) => break,
        }
    }
    Some(batch)
}

async fn run(s: Arc<Settings>, mut rx: Receiver<Event>, c: Counters) {
    let mut conn: Option<Conn> = None;
    let mut backoff = Duration::from_millis(100);
    while let Some(batch) = next_batch(&s, &mut rx).await {
        let len = batch.len() as u64;
        if conn.is_none() {
            match timeout(s.timeout, Conn::open(&s)).await {
                Ok(Ok(c2)) => {
                    tracing::info!(topic = %s.topic, partitions = c2.partitions.len(), "kafka-log: connected");
                    conn = Some(c2);
                    c.connected.set(1);
                    backoff = Duration::from_millis(100);
                }
                Ok(Err(why)) => {
                    tracing::warn!(topic = %s.topic, "kafka-log: {why}; {len} event(s) lost, retrying in {backoff:?}")
                }
                Err(_) => {
                    tracing::warn!(topic = %s.topic, "kafka-log: no connection within {:?}; {len} event(s) lost, retrying in {backoff:?}", s.timeout)
                }
            }
        }
        let Some(open) = &conn else {
            c.failed.inc_by(len);
            sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(5));
            continue;
        };
        match timeout(s.timeout, open.produce(&s, batch)).await {
            Ok(Ok(())) => c.sent.inc_by(len),
            outcome => {
                let why = match outcome {
                    Ok(Err(why)) => why,
                    _ => format!("no answer within {:?}", s.timeout),
                };
                tracing::warn!(topic = %s.topic, "kafka-log: {why}; {len} event(s) lost, reconnecting");
                c.failed.inc_by(len);
                c.connected.set(0);
                conn = None;
            }
        }
    }
}
