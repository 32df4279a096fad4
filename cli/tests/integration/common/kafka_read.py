"""Reads a topic from the beginning to its current end with kafka-python (a Kafka client
independent of the producer under test) and prints one line per message:
key<TAB>partition<TAB>value. Used by tests/common/kafka.rs.

    python kafka_read.py 127.0.0.1:9092 access-log
"""
import sys
import time

from kafka import KafkaConsumer, TopicPartition


def main():
    broker, topic = sys.argv[1], sys.argv[2]
    c = KafkaConsumer(bootstrap_servers=broker, enable_auto_commit=False,
                      request_timeout_ms=5000)
    parts = c.partitions_for_topic(topic)
    if not parts:
        sys.exit("no topic %s at %s" % (topic, broker))
    tps = [TopicPartition(topic, p) for p in sorted(parts)]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    end = c.end_offsets(tps)
    deadline = time.time() + 10
    while any(c.position(tp) < end[tp] for tp in tps):
        if time.time() > deadline:
            sys.exit("timed out reading %s" % topic)
        for tp, msgs in c.poll(timeout_ms=200).items():
            for m in msgs:
                key = (m.key or b"").decode(errors="replace")
                print("%s\t%d\t%s" % (key, m.partition, m.value.decode(errors="replace")))
    c.close()


if __name__ == "__main__":
    main()
