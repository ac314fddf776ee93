//! The bridge's counters, per direction, logged periodically and read with
//! [`crate::Bridge::stats`].

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use log::warn;

/// The live counters of one direction.
#[derive(Debug, Default)]
pub(crate) struct Direction {
    pub(crate) received: AtomicU64,
    pub(crate) looped: AtomicU64,
    pub(crate) unmapped: AtomicU64,
    pub(crate) queue_full: AtomicU64,
    pub(crate) forwarded: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) invalid: AtomicU64,
    pub(crate) oversized: AtomicU64,
    pub(crate) committed: AtomicU64,
    failing: AtomicBool,
}

impl Direction {
    /// Counts a publish on the other side; logs the first failure of a run of failures and the
    /// recovery after it.
    pub(crate) fn record(&self, result: Result<(), String>, side: &str, subject: &str) {
        match result {
            Ok(()) => {
                self.forwarded.fetch_add(1, Ordering::Relaxed);
                if self.failing.swap(false, Ordering::Relaxed) {
                    warn!("{side} publishing works again");
                }
            }
            Err(e) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if !self.failing.swap(true, Ordering::Relaxed) {
                    warn!(
                        "{side} publish on {subject} failed: {e} (further failures counted only)"
                    );
                }
            }
        }
    }

    pub(crate) fn snapshot(&self) -> DirectionStats {
        DirectionStats {
            received: self.received.load(Ordering::Relaxed),
            looped: self.looped.load(Ordering::Relaxed),
            unmapped: self.unmapped.load(Ordering::Relaxed),
            queue_full: self.queue_full.load(Ordering::Relaxed),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            invalid: self.invalid.load(Ordering::Relaxed),
            oversized: self.oversized.load(Ordering::Relaxed),
            committed: self.committed.load(Ordering::Relaxed),
        }
    }
}

/// The counters of one direction at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DirectionStats {
    /// Messages taken from the source side.
    pub received: u64,
    /// Messages dropped because they already carried this bridge's origin marker.
    pub looped: u64,
    /// Messages dropped because their subject did not map (should stay 0).
    pub unmapped: u64,
    /// Messages dropped because the queue towards the other side was full (towards Kafka: the
    /// bytes not yet acknowledged had reached `max_in_flight_bytes`).
    pub queue_full: u64,
    /// Messages handed to the other side's client (towards Kafka: acknowledged by Kafka).
    pub forwarded: u64,
    /// Messages the other side's client refused or, towards Kafka, could not deliver within
    /// `delivery_timeout_ms`.
    pub failed: u64,
    /// Messages skipped because a template made an invalid name (topic, subject) or the other
    /// side refused their name or headers.
    pub invalid: u64,
    /// Messages skipped because they exceed the other side's largest message.
    pub oversized: u64,
    /// From Kafka: records whose offsets were committed, after KCPQ confirmed a flush.
    pub committed: u64,
}

impl fmt::Display for DirectionStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received={} forwarded={} looped={} queue_full={} failed={} unmapped={} invalid={} \
             oversized={}",
            self.received,
            self.forwarded,
            self.looped,
            self.queue_full,
            self.failed,
            self.unmapped,
            self.invalid,
            self.oversized
        )?;
        if self.committed > 0 {
            write!(f, " committed={}", self.committed)?;
        }
        Ok(())
    }
}

/// The counters of both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// KCPQ to NATS.
    pub kcpq_to_nats: DirectionStats,
    /// NATS to KCPQ.
    pub nats_to_kcpq: DirectionStats,
    /// KCPQ to Kafka.
    pub kcpq_to_kafka: DirectionStats,
    /// Kafka to KCPQ.
    pub kafka_to_kcpq: DirectionStats,
    /// KCPQ to Kafka: bytes handed to the producer and not yet acknowledged or failed (at most
    /// `max_in_flight_bytes`).
    pub kafka_in_flight_bytes: u64,
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kcpq->nats {}; nats->kcpq {}; kcpq->kafka {} in_flight_bytes={}; kafka->kcpq {}",
            self.kcpq_to_nats,
            self.nats_to_kcpq,
            self.kcpq_to_kafka,
            self.kafka_in_flight_bytes,
            self.kafka_to_kcpq
        )
    }
}
