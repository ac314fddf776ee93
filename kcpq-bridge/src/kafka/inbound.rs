//! The `kafka -> kcpq` routes: one consumer in the bridge's consumer group, subscribed to every
//! route's topic, publishing each record on KCPQ under the route's subject template.
//!
//! **At least once.** Auto-commit is off. A record's offset is stored once the KCPQ client took
//! it (or once it was skipped: looped, invalid, oversized), and the stored offsets are committed
//! after every `commit_batch` records, or when no record came for [`COMMIT_IDLE`], but only
//! after a KCPQ flush confirmed that the server processed everything published before. A crash
//! or a rebalance before that commit redelivers the records since the last commit.
//!
//! **Bounded.** At most `commit_batch` records are taken from Kafka and not yet committed;
//! while KCPQ does not take a record (reconnecting), the consumer waits on it, retrying, and
//! reads nothing more (librdkafka's prefetch is bounded by `queued.max.messages.kbytes`).

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use log::info;
use rdkafka::consumer::{CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Headers, Message};
use rdkafka::topic_partition_list::TopicPartitionList;
use tokio::sync::watch;

use super::context::{Health, client_context};
use crate::bridge::{ORIGIN_HEADER, names_bridge, retry_delay};
use crate::config::kafka::{KafkaConfig, KafkaInRoute};
use crate::counters::Direction;
use crate::kcpq::{self, Refused};
use crate::template::SubjectTemplate;

/// How long the consumer waits for another record before committing what it holds.
pub(crate) const COMMIT_IDLE: Duration = Duration::from_millis(200);
/// librdkafka's prefetch bound per partition, unless `[kafka.properties]` sets it.
const PREFETCH_KBYTES: &str = "4096";

/// The consumer's callbacks: logs and failed commits.
pub(crate) struct InboundContext {
    health: Health,
}

client_context!(InboundContext);

impl ConsumerContext for InboundContext {
    fn commit_callback(&self, result: KafkaResult<()>, _offsets: &TopicPartitionList) {
        match result {
            Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
            Err(e) => self.health.problem(&format!("offset commit failed: {e}")),
        }
    }
}

/// The consumer of the `kafka -> kcpq` routes.
pub(crate) type KafkaConsumer = StreamConsumer<InboundContext>;

/// Creates the consumer and subscribes it to every route's topic (it joins the group in the
/// background).
pub(crate) fn consumer(
    id: Arc<str>,
    kafka: &KafkaConfig,
    routes: &[KafkaInRoute],
) -> KafkaResult<KafkaConsumer> {
    let mut config = super::base_config(kafka);
    config
        .set("group.id", &kafka.group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("queued.max.messages.kbytes", PREFETCH_KBYTES);
    let context = InboundContext {
        health: Health::new(id, "consumer"),
    };
    let consumer: KafkaConsumer =
        super::with_properties(config, kafka).create_with_context(context)?;
    let mut topics: Vec<&str> = routes.iter().map(|r| r.topic.as_str()).collect();
    topics.sort_unstable();
    topics.dedup();
    consumer.subscribe(&topics)?;
    Ok(consumer)
}

/// Everything [`run`] needs.
pub(crate) struct Flow {
    pub(crate) id: Arc<str>,
    pub(crate) consumer: KafkaConsumer,
    pub(crate) routes: Vec<KafkaInRoute>,
    pub(crate) kcpq: kcpq::Client,
    pub(crate) counters: Arc<Direction>,
    pub(crate) commit_batch: usize,
}

/// Why a record's handling stopped early.
struct Stopped;

/// Consumes until `stop` turns true (or its sender is dropped), then commits what KCPQ
/// confirmed and hands the consumer back, to be closed off the runtime (closing waits for the
/// group to be left).
pub(crate) async fn run(flow: Flow, mut stop: watch::Receiver<bool>) -> KafkaConsumer {
    let subjects: HashMap<&str, &SubjectTemplate> = flow
        .routes
        .iter()
        .map(|r| (r.topic.as_str(), &r.subject))
        .collect();
    let consumer = &flow.consumer;
    let mut pending = 0usize;
    let mut errors = 0usize;
    loop {
        let wait = if pending > 0 {
            COMMIT_IDLE
        } else {
            Duration::from_secs(3600)
        };
        let received = tokio::select! {
            _ = stop.changed() => break,
            received = tokio::time::timeout(wait, consumer.recv()) => received,
        };
        match received {
            Err(_idle) => {
                if commit(&flow, &mut pending, &mut stop).await.is_err() {
                    break;
                }
            }
            Ok(Err(e)) => {
                consumer.context().health.problem(&format!("consume: {e}"));
                tokio::time::sleep(retry_delay(errors)).await;
                errors += 1;
            }
            Ok(Ok(message)) => {
                errors = 0;
                consumer.context().health.working();
                let subject = subjects.get(message.topic()).copied();
                if handle(&flow, subject, &message, &mut stop).await.is_err() {
                    break;
                }
                // A revoked partition refuses the store: the record comes again to its new
                // owner, which is at-least-once too.
                let _ = consumer.store_offset_from_message(&message);
                pending += 1;
                if pending >= flow.commit_batch
                    && commit(&flow, &mut pending, &mut stop).await.is_err()
                {
                    break;
                }
            }
        }
    }
    if pending > 0 {
        let _ = commit(&flow, &mut pending, &mut stop).await;
    }
    flow.consumer
}

/// Publishes one record on KCPQ, retrying while KCPQ is unreachable; counts the outcome.
async fn handle(
    flow: &Flow,
    subject: Option<&SubjectTemplate>,
    message: &BorrowedMessage<'_>,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Stopped> {
    let counters = &flow.counters;
    counters.received.fetch_add(1, Ordering::Relaxed);
    let mut headers = Vec::new();
    if let Some(kafka_headers) = message.headers() {
        for header in kafka_headers.iter() {
            let value = header.value.map_or(Ok(""), std::str::from_utf8);
            let Ok(value) = value else {
                counters.invalid.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            };
            headers.push((header.key.to_owned(), value.to_owned()));
        }
    }
    if headers.iter().any(|(n, v)| names_bridge(n, v, &flow.id)) {
        counters.looped.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    }
    let Some(template) = subject else {
        counters.unmapped.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    let Ok(subject) = template.render(message.topic(), message.key()) else {
        counters.invalid.fetch_add(1, Ordering::Relaxed);
        return Ok(());
    };
    headers.push((ORIGIN_HEADER.to_owned(), flow.id.to_string()));
    let payload = bytes::Bytes::copy_from_slice(message.payload().unwrap_or_default());
    let mut attempt = 0;
    loop {
        match kcpq::publish(&flow.kcpq, &subject, None, &headers, payload.clone()).await {
            Ok(()) => {
                counters.forwarded.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(Refused::Oversized) => {
                counters.oversized.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(Refused::Invalid) => {
                counters.invalid.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            Err(Refused::Closed) => return Err(Stopped),
            Err(Refused::Transient(e)) => {
                flow.consumer
                    .context()
                    .health
                    .problem(&format!("kcpq publish on {subject}: {e}; retrying"));
                pause(retry_delay(attempt), stop).await?;
                attempt += 1;
            }
        }
    }
}

/// Flushes KCPQ (retrying until it confirms), then commits the stored offsets.
async fn commit(
    flow: &Flow,
    pending: &mut usize,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), Stopped> {
    let mut attempt = 0;
    while let Err(e) = kcpq::flush(&flow.kcpq).await {
        flow.consumer
            .context()
            .health
            .problem(&format!("kcpq flush before a commit: {e}; retrying"));
        pause(retry_delay(attempt), stop).await?;
        attempt += 1;
    }
    match flow.consumer.commit_consumer_state(CommitMode::Async) {
        Ok(()) | Err(KafkaError::ConsumerCommit(RDKafkaErrorCode::NoOffset)) => {}
        Err(e) => info!("bridge {}: kafka commit: {e}", flow.id),
    }
    flow.counters
        .committed
        .fetch_add(*pending as u64, Ordering::Relaxed);
    *pending = 0;
    Ok(())
}

/// Sleeps `delay`, or returns `Stopped` as soon as the bridge stops.
async fn pause(delay: Duration, stop: &mut watch::Receiver<bool>) -> Result<(), Stopped> {
    if *stop.borrow() {
        return Err(Stopped);
    }
    tokio::select! {
        _ = stop.changed() => Err(Stopped),
        () = tokio::time::sleep(delay) => Ok(()),
    }
}
