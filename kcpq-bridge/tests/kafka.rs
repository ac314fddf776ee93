//! End to end with Kafka: a real Kafka-compatible broker (Tansu, in memory; `.ci/run` installs
//! it), an embedded KCPQ server, and the bridge in-process.
#![allow(missing_docs)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::tansu::Tansu;
use common::*;
use kcpq_bridge::{Bridge, ORIGIN_HEADER};
use kcpq_tokio::core::server::ServerConfig;
use rdkafka::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use tokio::time::timeout;

/// Bound of a wait that includes a consumer group join (Tansu takes about 3 s).
const JOIN: Duration = Duration::from_secs(40);
/// The largest KCPQ payload in these tests, so that a Kafka record can exceed it.
const KCPQ_MAX_PAYLOAD: usize = 64 * 1024;

/// Settings every test bridge shares: a short session so that Tansu notices a stopped bridge
/// quickly, and a producer whose largest record is 10 000 bytes.
fn kafka_section(brokers: &str, extra: &str) -> String {
    format!(
        "[kafka]\nbrokers = \"{brokers}\"\nlinger_ms = 1\nbatch_bytes = 8000\n{extra}\n\
         [kafka.properties]\n\"message.max.bytes\" = \"10000\"\n\
         \"session.timeout.ms\" = \"6000\"\n\"heartbeat.interval.ms\" = \"500\"\n"
    )
}

fn producer(brokers: &str) -> FutureProducer {
    ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.max.bytes", "2000000")
        .set("message.timeout.ms", "10000")
        .create()
        .expect("a test producer")
}

async fn produce(
    producer: &FutureProducer,
    topic: &str,
    key: &str,
    headers: &[(&str, &str)],
    payload: &[u8],
) {
    let mut owned = OwnedHeaders::new();
    for (name, value) in headers {
        owned = owned.insert(Header {
            key: name,
            value: Some(*value),
        });
    }
    let record = FutureRecord::to(topic)
        .key(key)
        .payload(payload)
        .headers(owned);
    producer
        .send(record, Duration::from_secs(10))
        .await
        .unwrap_or_else(|(e, _)| panic!("produce to {topic}: {e}"));
}

/// A consumer of `topic` from its first record, in a group of its own.
fn consumer(brokers: &str, topic: &str) -> StreamConsumer {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("test-{topic}-{}", std::process::id()))
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .create()
        .expect("a test consumer");
    consumer.subscribe(&[topic]).expect("subscribe");
    consumer
}

/// A record as the tests look at it.
#[derive(Debug)]
struct Record {
    key: Option<String>,
    headers: Vec<(String, String)>,
    payload: Vec<u8>,
}

/// The next record of `consumer`, within `bound`.
async fn next_record(consumer: &StreamConsumer, bound: Duration) -> Record {
    let message = timeout(bound, consumer.recv())
        .await
        .unwrap_or_else(|_| panic!("no Kafka record within {bound:?}"))
        .expect("consume");
    let headers = message
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| {
                    let value = h.value.map(|v| String::from_utf8_lossy(v).into_owned());
                    (h.key.to_owned(), value.unwrap_or_default())
                })
                .collect()
        })
        .unwrap_or_default();
    Record {
        key: message
            .key()
            .map(|k| String::from_utf8_lossy(k).into_owned()),
        headers,
        payload: message.payload().unwrap_or_default().to_vec(),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_cross_both_ways_with_keys_and_headers() {
    init_logs();
    let tansu = Tansu::start();
    for topic in ["sensors-t1", "commands", "loop"] {
        tansu.create_topic(topic, 1);
    }
    let mut server_config = ServerConfig::default();
    server_config.max_payload = KCPQ_MAX_PAYLOAD;
    let kcpq = kcpq_server_with(server_config).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rest = format!(
        "{}{}",
        kafka_section(&tansu.brokers(), "compression = \"zstd\"\ncommit_batch = 8"),
        r#"
        [[route]]
        from = "kcpq"
        to = "kafka"
        subject = "sensors.*.>"
        topic = "sensors-{2}"
        key_token = 3
        [[route]]
        from = "kcpq"
        to = "kafka"
        subject = "loop.>"
        topic = "loop"
        [[route]]
        from = "kafka"
        topic = "commands"
        to_subject = "cmd.{key}"
        [[route]]
        from = "kafka"
        topic = "loop"
        to_subject = "loop.back"
        "#
    );
    let config = config_file(dir.path(), "k1", kcpq.local_addr(), &rest);
    let bridge = start_bridge(config).await;
    let client = kcpq_client(&kcpq).await;
    let mut commands = client.subscribe("cmd.>").await.expect("kcpq subscribe");

    // KCPQ to Kafka: a topic the template makes invalid, a record over Kafka's largest, then a
    // good one, keyed by the subject's third token, its headers kept and the origin added.
    client
        .publish("sensors.bad:name.d1", "x")
        .await
        .expect("kcpq publish");
    client
        .publish("sensors.t1.big", vec![0u8; 20_000])
        .await
        .expect("kcpq publish");
    client
        .publish_with_headers("sensors.t1.dev7", None, &[("Unit", "C")], "21.5")
        .await
        .expect("kcpq publish");
    let sensors = consumer(&tansu.brokers(), "sensors-t1");
    let record = next_record(&sensors, JOIN).await;
    assert_eq!(record.key.as_deref(), Some("dev7"));
    assert_eq!(record.payload, b"21.5");
    assert_eq!(header(&record.headers, "Unit"), Some("C"));
    assert_eq!(header(&record.headers, ORIGIN_HEADER), Some("k1"));
    let stats = stats_until(&bridge, |s| s.kcpq_to_kafka.forwarded == 1).await;
    assert_eq!(stats.kcpq_to_kafka.received, 3, "{stats}");
    assert_eq!(stats.kcpq_to_kafka.invalid, 1, "{stats}");
    assert_eq!(stats.kcpq_to_kafka.oversized, 1, "{stats}");

    // Kafka to KCPQ: a key that makes the subject invalid and a record over KCPQ's largest
    // payload are skipped without holding up the partition; the others arrive in order.
    let kafka = producer(&tansu.brokers());
    produce(&kafka, "commands", "bad key", &[], b"skipped").await;
    produce(&kafka, "commands", "reboot", &[("By", "ops")], b"now").await;
    produce(
        &kafka,
        "commands",
        "big",
        &[],
        &vec![1u8; KCPQ_MAX_PAYLOAD + 1],
    )
    .await;
    produce(&kafka, "commands", "after", &[], b"ok").await;
    let message = timeout(JOIN, futures_lite::StreamExt::next(&mut commands))
        .await
        .expect("a command within the group join")
        .expect("subscription open");
    assert_eq!(message.subject, "cmd.reboot");
    assert_eq!(&message.payload[..], b"now");
    let headers = message.headers().expect("headers");
    assert_eq!(headers.get("By"), Some("ops"));
    assert_eq!(headers.get(ORIGIN_HEADER), Some("k1"));
    assert_eq!(next_kcpq(&mut commands).await.subject, "cmd.after");
    let stats = stats_until(&bridge, |s| s.kafka_to_kcpq.committed == 4).await;
    assert_eq!(stats.kafka_to_kcpq.forwarded, 2, "{stats}");
    assert_eq!(stats.kafka_to_kcpq.invalid, 1, "{stats}");
    assert_eq!(stats.kafka_to_kcpq.oversized, 1, "{stats}");

    // No loop: what the bridge wrote to `loop` comes back to it from Kafka and is dropped.
    client
        .publish("loop.x", "once")
        .await
        .expect("kcpq publish");
    let stats = stats_until(&bridge, |s| s.kafka_to_kcpq.looped == 1).await;
    assert_eq!(stats.kcpq_to_kafka.forwarded, 2, "{stats}");
    assert_eq!(stats.kafka_to_kcpq.forwarded, 2, "{stats}");
    bridge.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_bound_holds_while_kafka_is_down() {
    init_logs();
    // No broker yet: everything the bridge takes waits in the producer, up to the bound.
    let port = free_port();
    let brokers = format!("127.0.0.1:{port}");
    let kcpq = kcpq_server().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rest = format!(
        "{}{}",
        kafka_section(&brokers, "max_in_flight_bytes = 20000"),
        "[[route]]\nfrom = \"kcpq\"\nto = \"kafka\"\nsubject = \"up.>\"\ntopic = \"up\"\n"
    );
    let config = config_file(dir.path(), "k2", kcpq.local_addr(), &rest);
    let bridge = start_bridge(config).await;
    let client = kcpq_client(&kcpq).await;
    // Each record weighs its payload and headers: 1000 + "Kcpq-Bridge-Origin" + "k2" = 1020
    // bytes, so 19 fit in 20 000 bytes and the other 81 are dropped and counted.
    for i in 0..100u32 {
        let mut payload = format!("{i:04}").into_bytes();
        payload.resize(1000, b'.');
        client
            .publish(&format!("up.{i}"), payload)
            .await
            .expect("kcpq publish");
    }
    let stats = stats_until(&bridge, |s| s.kcpq_to_kafka.received == 100).await;
    assert_eq!(stats.kcpq_to_kafka.queue_full, 81, "{stats}");
    assert_eq!(stats.kafka_in_flight_bytes, 19 * 1020, "{stats}");
    assert_eq!(stats.kcpq_to_kafka.forwarded, 0, "{stats}");

    // The broker comes: the 19 are delivered, the gauge returns to 0.
    let tansu = Tansu::start_on(port);
    tansu.create_topic("up", 1);
    let stats = stats_within(&bridge, JOIN, |s| s.kcpq_to_kafka.forwarded == 19).await;
    assert_eq!(stats.kcpq_to_kafka.failed, 0, "{stats}");
    assert_eq!(stats.kafka_in_flight_bytes, 0, "{stats}");
    let up = consumer(&tansu.brokers(), "up");
    let mut seen = BTreeSet::new();
    for _ in 0..19 {
        let record = next_record(&up, JOIN).await;
        seen.insert(String::from_utf8_lossy(&record.payload[..4]).into_owned());
    }
    let first: BTreeSet<String> = (0..19).map(|i| format!("{i:04}")).collect();
    assert_eq!(seen, first);
    bridge.shutdown().await;
}

/// Publishes `count` messages `in.<from + i>` on KCPQ.
async fn publish_range(client: &kcpq_tokio::Client, from: u32, count: u32) {
    for i in from..from + count {
        client
            .publish(&format!("in.{i}"), format!("{i}"))
            .await
            .expect("kcpq publish");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_loses_only_what_is_counted() {
    init_logs();
    let tansu = Tansu::start();
    tansu.create_topic("in", 1);
    let kcpq = kcpq_server().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rest = format!(
        "{}{}",
        kafka_section(&tansu.brokers(), "delivery_timeout_ms = 20000"),
        "[[route]]\nfrom = \"kcpq\"\nto = \"kafka\"\nsubject = \"in.>\"\ntopic = \"in\"\n"
    );
    let config = config_file(dir.path(), "k3", kcpq.local_addr(), &rest);
    let bridge = start_bridge(config).await;
    let client = kcpq_client(&kcpq).await;
    publish_range(&client, 0, 20).await;
    stats_within(&bridge, JOIN, |s| s.kcpq_to_kafka.forwarded == 20).await;

    // The broker goes (with what it stored: memory storage) and comes back empty; what the
    // bridge took meanwhile waits in the producer and is delivered, or fails and is counted.
    let port = tansu.stop();
    publish_range(&client, 20, 20).await;
    stats_until(&bridge, |s| s.kcpq_to_kafka.received == 40).await;
    let tansu = Tansu::start_on(port);
    tansu.create_topic("in", 1);
    let settled = |s: &kcpq_bridge::Stats| {
        let d = &s.kcpq_to_kafka;
        d.forwarded + d.failed + d.queue_full == d.received && s.kafka_in_flight_bytes == 0
    };
    let stats = stats_within(&bridge, JOIN, settled).await;

    // The flow goes on (a producer stuck on the lost broker state is replaced after its
    // delivery timeout): probes until one is delivered, each a little apart.
    let before = stats.kcpq_to_kafka.forwarded;
    let probes = async {
        for i in 40u32.. {
            publish_range(&client, i, 1).await;
            let delivered = async {
                while bridge.stats().kcpq_to_kafka.forwarded <= before {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            };
            if timeout(Duration::from_millis(500), delivered).await.is_ok() {
                return;
            }
        }
    };
    timeout(JOIN, probes)
        .await
        .expect("KCPQ to Kafka flows again after the restart");
    let stats = stats_within(&bridge, JOIN, settled).await;
    assert!(stats.kcpq_to_kafka.forwarded > before, "{stats}");

    // What the new broker holds is what was counted as delivered to it.
    let records = consumer(&tansu.brokers(), "in");
    let mut seen = BTreeSet::new();
    for _ in 0..stats.kcpq_to_kafka.forwarded - 20 {
        let record = next_record(&records, JOIN).await;
        let text = String::from_utf8_lossy(&record.payload).into_owned();
        seen.insert(text.parse::<u32>().expect("a number"));
    }
    assert!(seen.iter().all(|i| *i >= 20), "{seen:?}");
    bridge.shutdown().await;
}

async fn collect_until(
    sub: &mut kcpq_tokio::Subscription,
    seen: &mut BTreeSet<u32>,
    enough: impl Fn(&BTreeSet<u32>) -> bool,
) {
    let wait = async {
        while !enough(seen) {
            let message = futures_lite::StreamExt::next(sub)
                .await
                .expect("subscription open");
            let text = String::from_utf8_lossy(&message.payload).into_owned();
            seen.insert(text.parse().expect("a number"));
        }
    };
    timeout(JOIN, wait)
        .await
        .unwrap_or_else(|_| panic!("only {} records arrived within {JOIN:?}", seen.len()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn committed_offsets_carry_the_stream_across_a_bridge_restart() {
    init_logs();
    let tansu = Tansu::start();
    tansu.create_topic("out", 1);
    let kafka = producer(&tansu.brokers());
    for i in 0..200u32 {
        produce(&kafka, "out", "k", &[], i.to_string().as_bytes()).await;
    }
    let kcpq = kcpq_server().await;
    let client = kcpq_client(&kcpq).await;
    let mut sub = client.subscribe("out").await.expect("kcpq subscribe");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let rest = format!(
        "{}{}",
        kafka_section(
            &tansu.brokers(),
            "commit_batch = 10\ngroup_id = \"restarts\""
        ),
        "[[route]]\nfrom = \"kafka\"\ntopic = \"out\"\nto_subject = \"{topic}\"\n"
    );
    let config = config_file(dir.path(), "k4", kcpq.local_addr(), &rest);

    // The first bridge takes part of the stream, then stops (committing what KCPQ confirmed).
    let first = start_bridge(config.clone()).await;
    let mut seen = BTreeSet::new();
    collect_until(&mut sub, &mut seen, |seen| seen.len() >= 30).await;
    let committed = stop_after_commit(first).await;

    // The second one, in the same group, starts from the committed offsets: the stream is
    // complete, and it does not read again what the first one committed. (The first one may
    // have read and committed all 200 before it stopped: 100 more records, produced now, are
    // the second one's in any case.)
    let second = start_bridge(config).await;
    for i in 200..300u32 {
        produce(&kafka, "out", "k", &[], i.to_string().as_bytes()).await;
    }
    collect_until(&mut sub, &mut seen, |seen| seen.len() == 300).await;
    let stats = stats_within(&second, JOIN, |s| {
        let d = &s.kafka_to_kcpq;
        d.received >= 100 && d.committed == d.received
    })
    .await;
    assert!(
        stats.kafka_to_kcpq.received <= 300 - committed,
        "the second bridge re-read committed records: {stats}, {committed} committed before"
    );
    assert_eq!(seen, (0..300).collect());
    second.shutdown().await;
}

/// Shuts `bridge` down and returns how many records it had committed.
async fn stop_after_commit(bridge: Bridge) -> u64 {
    let stats = stats_until(&bridge, |s| s.kafka_to_kcpq.committed >= 10).await;
    bridge.shutdown().await;
    stats.kafka_to_kcpq.committed
}
