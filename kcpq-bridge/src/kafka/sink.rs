//! The producer of the `kcpq -> kafka` routes: idempotent, `acks=all`, batched and compressed,
//! with the bytes handed to it and not yet acknowledged bounded by `max_in_flight_bytes`.
//!
//! **When full** (Kafka slow or down): a record that would pass the bound is dropped and counted
//! (`queue_full`); the state change is logged once each way. Records already handed over are
//! retried by librdkafka until `delivery_timeout_ms`, then counted as `failed`.
//!
//! **Renewed after a timeout.** A delivery that timed out marks the producer stale, and
//! [`Sink::renew_if_stale`] replaces it with a new one (a new producer id): an idempotent
//! producer whose broker lost its state (a broker without persistent storage restarted) stays
//! stuck otherwise. The old producer's records are purged and counted as `failed`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use bytes::Bytes;
use log::{info, warn};
use rdkafka::ClientConfig;
use rdkafka::error::{KafkaError, KafkaResult, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};

use super::context::{Health, client_context};
use crate::config::kafka::KafkaConfig;
use crate::counters::Direction;

/// The delivery callbacks: release the record's bytes and count the outcome.
struct SinkContext {
    health: Health,
    in_flight: Arc<AtomicU64>,
    counters: Arc<Direction>,
    stale: Arc<AtomicBool>,
}

client_context!(SinkContext);

impl ProducerContext for SinkContext {
    /// The record's size, released at delivery.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, size: usize) {
        self.in_flight.fetch_sub(size as u64, Ordering::Relaxed);
        match result {
            Ok(_) => {
                self.counters.forwarded.fetch_add(1, Ordering::Relaxed);
                self.health.working();
            }
            Err((e, _)) => {
                if matches!(
                    e,
                    KafkaError::MessageProduction(RDKafkaErrorCode::MessageTimedOut)
                ) {
                    self.stale.store(true, Ordering::Relaxed);
                }
                self.counters.failed.fetch_add(1, Ordering::Relaxed);
                self.health.problem(&format!("delivery failed: {e}"));
            }
        }
    }
}

/// One record for [`Sink::offer`].
pub(crate) struct Record<'a> {
    pub(crate) topic: &'a str,
    pub(crate) key: Option<&'a [u8]>,
    pub(crate) headers: &'a [(String, String)],
    pub(crate) payload: &'a Bytes,
}

/// The producer and its bound.
pub(crate) struct Sink {
    id: Arc<str>,
    config: ClientConfig,
    producer: RwLock<ThreadedProducer<SinkContext>>,
    stale: Arc<AtomicBool>,
    bound: u64,
    in_flight: Arc<AtomicU64>,
    full: AtomicBool,
    counters: Arc<Direction>,
}

impl Sink {
    /// Creates the producer (it connects in the background; nothing waits for Kafka here);
    /// `in_flight` is the gauge of bytes handed over and not yet acknowledged or failed.
    pub(crate) fn new(
        id: Arc<str>,
        kafka: &KafkaConfig,
        counters: Arc<Direction>,
        in_flight: Arc<AtomicU64>,
    ) -> KafkaResult<Sink> {
        let mut config = super::base_config(kafka);
        // librdkafka's own queue is sized above the bridge's bound, so that the bound decides.
        let queue_kbytes = (kafka.max_in_flight_bytes / 1024 + 1024).min(2_097_151);
        config
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("compression.type", kafka.compression.as_str())
            .set("linger.ms", kafka.linger.as_millis().to_string())
            .set("batch.size", kafka.batch_bytes.to_string())
            .set(
                "message.timeout.ms",
                kafka.delivery_timeout.as_millis().to_string(),
            )
            .set("queue.buffering.max.kbytes", queue_kbytes.to_string())
            .set("queue.buffering.max.messages", "1000000");
        let config = super::with_properties(config, kafka);
        let stale = Arc::new(AtomicBool::new(false));
        let producer = create(&config, &id, &in_flight, &counters, &stale)?;
        Ok(Sink {
            id,
            config,
            producer: RwLock::new(producer),
            stale,
            bound: kafka.max_in_flight_bytes,
            in_flight,
            full: AtomicBool::new(false),
            counters,
        })
    }

    /// Hands `record` to the producer if the bound allows it; counts what becomes of it.
    pub(crate) fn offer(&self, record: &Record<'_>) {
        let size = record.payload.len()
            + record.key.map_or(0, <[u8]>::len)
            + record
                .headers
                .iter()
                .map(|(n, v)| n.len() + v.len())
                .sum::<usize>();
        let reserved = self
            .in_flight
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                let after = now.checked_add(size as u64)?;
                (after <= self.bound).then_some(after)
            });
        if reserved.is_err() {
            self.counters.queue_full.fetch_add(1, Ordering::Relaxed);
            if !self.full.swap(true, Ordering::Relaxed) {
                warn!(
                    "bridge {}: kafka in-flight bound of {} bytes reached: dropping records \
                     (counted as queue_full) until Kafka acknowledges",
                    self.id, self.bound
                );
            }
            return;
        }
        if self.full.swap(false, Ordering::Relaxed) {
            info!(
                "bridge {}: kafka in-flight bytes below the bound again; {} dropped so far",
                self.id,
                self.counters.queue_full.load(Ordering::Relaxed)
            );
        }
        let mut headers = OwnedHeaders::new_with_capacity(record.headers.len());
        for (name, value) in record.headers {
            headers = headers.insert(Header {
                key: name,
                value: Some(value.as_bytes()),
            });
        }
        let mut base = BaseRecord::with_opaque_to(record.topic, size)
            .payload(&record.payload[..])
            .headers(headers);
        if let Some(key) = record.key {
            base = base.key(key);
        }
        let producer = self.producer.read().unwrap_or_else(|e| e.into_inner());
        if let Err((e, _)) = producer.send(base) {
            self.in_flight.fetch_sub(size as u64, Ordering::Relaxed);
            let counter = match &e {
                KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge) => {
                    &self.counters.oversized
                }
                KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull) => {
                    &self.counters.queue_full
                }
                KafkaError::MessageProduction(
                    RDKafkaErrorCode::InvalidTopic | RDKafkaErrorCode::UnknownTopic,
                ) => &self.counters.invalid,
                _ => &self.counters.failed,
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if matches!(
                e,
                KafkaError::MessageProduction(RDKafkaErrorCode::MessageSizeTooLarge)
            ) {
                return;
            }
            producer
                .context()
                .health
                .problem(&format!("refused a record for {}: {e}", record.topic));
        }
    }

    /// Whether a delivery timed out since the producer was created.
    pub(crate) fn is_stale(&self) -> bool {
        self.stale.load(Ordering::Relaxed)
    }

    /// Replaces the producer if a delivery timed out; blocks while the old one purges its
    /// records (each counted as `failed`), about half a second.
    pub(crate) fn renew_if_stale(&self) {
        if !self.stale.swap(false, Ordering::Relaxed) {
            return;
        }
        let counters = &self.counters;
        match create(
            &self.config,
            &self.id,
            &self.in_flight,
            counters,
            &self.stale,
        ) {
            Ok(fresh) => {
                let old = std::mem::replace(
                    &mut *self.producer.write().unwrap_or_else(|e| e.into_inner()),
                    fresh,
                );
                warn!(
                    "bridge {}: a kafka delivery timed out: producer replaced; records it held \
                     are counted as failed",
                    self.id
                );
                drop(old);
            }
            Err(e) => {
                warn!("bridge {}: kafka producer not replaced: {e}", self.id);
                self.stale.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Waits up to `timeout` for the records handed over to be acknowledged (or to fail).
    pub(crate) fn flush(&self, timeout: Duration) {
        let producer = self.producer.read().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = producer.flush(timeout) {
            warn!(
                "bridge {}: kafka flush at shutdown: {e}; {} bytes not acknowledged",
                self.id,
                self.in_flight.load(Ordering::Relaxed)
            );
        }
    }
}

/// A producer with `config` whose callbacks update the shared gauge and counters.
fn create(
    config: &ClientConfig,
    id: &Arc<str>,
    in_flight: &Arc<AtomicU64>,
    counters: &Arc<Direction>,
    stale: &Arc<AtomicBool>,
) -> KafkaResult<ThreadedProducer<SinkContext>> {
    let context = SinkContext {
        health: Health::new(id.clone(), "producer"),
        in_flight: in_flight.clone(),
        counters: counters.clone(),
        stale: stale.clone(),
    };
    config.create_with_context(context)
}
