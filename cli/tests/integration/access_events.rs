//! Access events to Kafka through the real binary: a real Kafka-protocol broker (tansu),
//! read back with an independent client (kcat). Events carry the hash key as message key;
//! with the broker stopped requests are answered as before while events are dropped and
//! counted; after the broker comes back, events flow again without a restart.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::dist::{quantile, servers_line, Client};
use crate::common::edge::{Edge, ANY_PORT};
use crate::common::kafka::Broker;
use crate::common::origin::Origin;
use crate::common::scrape::metric;
use crate::common::wait_until;

const TOPIC: &str = "access-log";

fn config(listen: SocketAddr, admin: SocketAddr, origin: SocketAddr, broker: &str) -> String {
    format!(
        r#"
[server]
threads = 2
node_name = "dist-7"

[upstreams.app]
{servers}
balance = "hash"
hash_key = "$arg_productId"

[[servers]]
name = "dist"
listen = ["{listen}"]
plugins = [{{ name = "kafka-log", config = {{ brokers = ["{broker}"], topic = "{TOPIC}", linger = "20ms", queue = 50, timeout = "1s" }} }}]

[[servers.routes]]
name = "product"
path = "/product"
upstream = "app"

[[servers]]
name = "admin"
listen = ["{admin}"]
[[servers.routes]]
path = "/metrics"
plugins = [{{ name = "metrics" }}]
"#,
        servers = servers_line(&[origin]),
    )
}

/// (key, partition) → events seen, parsed.
fn events(broker: &Broker) -> Vec<(String, serde_json::Value)> {
    broker
        .consume(TOPIC)
        .into_iter()
        .map(|(k, v)| (k, serde_json::from_str(&v).expect("event is JSON")))
        .collect()
}

fn counted(admin: SocketAddr, result: &str) -> f64 {
    let series = format!("edgeproxy_kafka_events_total{{result=\"{result}\",topic=\"{TOPIC}\"}}");
    metric(admin, &series).unwrap_or(0.0)
}

/// Times `n` requests for products `ids`; every one must be answered 200.
fn timed(client: &Client, ids: impl Iterator<Item = u32> + Clone, n: usize) -> Vec<Duration> {
    let mut took = Vec::new();
    for id in ids.cycle().take(n) {
        let start = Instant::now();
        let (status, _) = client.get(&format!("/product?productId={id}"));
        took.push(start.elapsed());
        assert_eq!(status, 200, "product {id}");
    }
    took
}

#[test]
fn events_carry_the_hash_key_survive_a_broker_outage_and_flow_again() {
    let mut broker = Broker::start();
    broker.create_topic(TOPIC, 3);
    let origin = Origin::start();
    let edge = Edge::start(&config(ANY_PORT, ANY_PORT, origin.addr, &broker.addr()));
    let [listen, admin] = edge.listening();
    let client = Client::new(listen);

    // Keys arrive as message keys, one partition per key.
    let mut before = timed(&client, 1..=20, 60);
    wait_until("60 events at the broker", Duration::from_secs(20), || {
        events(&broker).len() >= 60
    })
    .unwrap_or_else(|e| panic!("{e}\nbroker log:\n{}", broker.log()));
    let seen = events(&broker);
    let mut keys = BTreeSet::new();
    for (key, ev) in &seen {
        assert_eq!(ev["key"].as_str(), Some(key.as_str()), "{ev}");
        assert_eq!(ev["node"], "dist-7");
        assert_eq!(ev["route"], "product");
        assert_eq!(ev["server"], "dist");
        assert_eq!(ev["status"], 200);
        assert!(
            ev["time"].as_i64().is_some_and(|t| t > 1_600_000_000_000),
            "{ev}"
        );
        keys.insert(key.clone());
    }
    let want: BTreeSet<String> = (1..=20).map(|i| i.to_string()).collect();
    assert_eq!(keys, want);
    let parts = partitions_by_key(&broker);
    assert!(
        parts.values().all(|p| p.len() == 1),
        "a key on several partitions: {parts:?}"
    );
    let used: BTreeSet<_> = parts.values().flatten().collect();
    assert!(used.len() > 1, "20 keys all on one partition: {parts:?}");
    assert_eq!(counted(admin, "sent"), 60.0);

    // Broker down: requests are answered as before, events are dropped and counted.
    broker.stop();
    let mut during = timed(&client, 21..=40, 300);
    wait_until("lost events counted", Duration::from_secs(10), || {
        counted(admin, "dropped") + counted(admin, "failed") >= 300.0
    })
    .unwrap();
    assert!(counted(admin, "dropped") > 0.0, "a queue of 50 overflowed");
    let slowest = *during.iter().max().unwrap();
    assert!(
        slowest < Duration::from_millis(900),
        "a request waited for the broker: {slowest:?}"
    );
    println!(
        "latency with broker up: p50 {:?} p99 {:?}; broker down: p50 {:?} p99 {:?}",
        quantile(&mut before, 0.5),
        quantile(&mut before, 0.99),
        quantile(&mut during, 0.5),
        quantile(&mut during, 0.99)
    );

    // Broker back (empty: in-memory storage): the producer reconnects by itself.
    broker.restart();
    broker.create_topic(TOPIC, 3);
    wait_until("events to flow again", Duration::from_secs(30), || {
        timed(&client, 100..=104, 5);
        events(&broker).iter().any(|(k, _)| k == "100")
    })
    .unwrap_or_else(|e| panic!("{e}\nbroker log:\n{}", broker.log()));
}

/// Partitions each key's events were found on (kcat `%p`).
fn partitions_by_key(broker: &Broker) -> BTreeMap<String, BTreeSet<u32>> {
    let mut out: BTreeMap<String, BTreeSet<u32>> = BTreeMap::new();
    for (key, p) in broker.consume_partitions(TOPIC) {
        out.entry(key).or_default().insert(p);
    }
    out
}
