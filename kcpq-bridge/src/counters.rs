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
    /// Messages dropped because the queue towards the other side was full.
    pub queue_full: u64,
    /// Messages handed to the other side's client.
    pub forwarded: u64,
    /// Messages the other side's client refused.
    pub failed: u64,
}

impl fmt::Display for DirectionStats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received={} forwarded={} looped={} queue_full={} failed={} unmapped={}",
            self.received, self.forwarded, self.looped, self.queue_full, self.failed, self.unmapped
        )
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
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "kcpq->nats {}; nats->kcpq {}",
            self.kcpq_to_nats, self.nats_to_kcpq
        )
    }
}
