use std::time::Instant;

use super::*;
use crate::test_shared;
use edgeproxy::kit::Registry;
use edgeproxy::kit::RequestHeader;

fn build(config: &str) -> Result<Arc<dyn Plugin>, String> {
    let mut r = Registry::new();
    r.register::<KafkaLog>();
    r.build_str("kafka-log", config, &test_shared())
        .map_err(|e| e.to_string())
}

#[test]
fn bad_configs_are_refused_with_the_reason() {
    let cases = [
        (r#"{ brokers = [] }"#, "at least one"),
        (r#"{ brokers = ["localhost"] }"#, "is not `host:port`"),
        (r#"{ brokers = ["h:0"] }"#, "is not `host:port`"),
        (r#"{ brokers = ["h:9092"], topic = "a b" }"#, "Kafka's rule"),
        (r#"{ brokers = ["h:9092"], batch_size = 0 }"#, "batch_size"),
        (r#"{ brokers = ["h:9092"], queue = 0 }"#, "queue"),
        (r#"{ brokers = ["h:9092"], timeout = "0s" }"#, "timeout"),
        (
            r#"{ brokers = ["h:9092"], compression = "lz5" }"#,
            "unknown variant",
        ),
        (r#"{ brokers = ["h:9092"], key = "$nope" }"#, "key"),
        (r#"{ brokers = ["h:9092"], lingr = "1s" }"#, "unknown field"),
    ];
    for (config, want) in cases {
        match build(config) {
            Ok(_) => panic!("{config} was accepted"),
            Err(e) => assert!(e.contains(want), "{config}: {e}"),
        }
    }
    assert!(build(r#"{ brokers = ["kafka-1:9092", "10.0.0.2:9092"], compression = "snappy", key = "$arg_productId" }"#).is_ok());
}

fn counter(topic: &str, result: &str) -> u64 {
    let text = String::from_utf8(crate::metrics::render().unwrap().0).unwrap();
    let want = format!("edgeproxy_kafka_events_total{{result=\"{result}\",topic=\"{topic}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&want))
        .map_or(0, |v| v.trim().parse().unwrap())
}

/// With nothing listening at the broker address, logging never waits: the queue takes
/// what it can, the rest is dropped, and what was queued fails — all counted.
#[tokio::test]
async fn a_dead_broker_never_makes_the_log_phase_wait() {
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = dead.local_addr().unwrap();
    drop(dead);
    let p = build(&format!(
        r#"{{ brokers = ["{addr}"], topic = "unit-dead", queue = 100, timeout = "200ms", linger = "10ms" }}"#
    ))
    .unwrap();
    let req = RequestHeader::build("GET", b"/p?productId=1", None).unwrap();
    let mut ctx = RequestCtx::for_test();
    ctx.hash_key = Some("1".into());
    let entry = LogEntry {
        request: &req,
        status: 200,
        body_bytes: 0,
        duration: Duration::ZERO,
        error: None,
        upstream_time: None,
    };
    let start = Instant::now();
    for _ in 0..5_000 {
        p.log(&entry, &ctx).await;
    }
    let took = start.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "5000 log calls took {took:?}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (dropped, failed) = (
            counter("unit-dead", "dropped"),
            counter("unit-dead", "failed"),
        );
        if dropped + failed == 5_000 {
            assert!(dropped > 0, "a queue of 100 cannot hold 5000 events");
            assert_eq!(counter("unit-dead", "sent"), 0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "dropped {dropped} + failed {failed} != 5000"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn the_event_is_compact_json() {
    let doc = Doc {
        time: 1,
        node: "n1",
        server: "dist",
        route: Some("product"),
        key: Some("42"),
        status: 200,
        cache: Some("L1"),
    };
    assert_eq!(
        serde_json::to_string(&doc).unwrap(),
        r#"{"time":1,"node":"n1","server":"dist","route":"product","key":"42","status":200,"cache":"L1"}"#
    );
}
