//! Per-direction packet counters, shared between the forwarding thread and the reporter.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// Live counters of one direction. Updated by its forwarding thread, read at any time.
#[derive(Debug, Default)]
pub struct Counters {
    received: AtomicU64,
    lost: AtomicU64,
    queue_full: AtomicU64,
    held_back: AtomicU64,
    forwarded: AtomicU64,
    reordered: AtomicU64,
    write_errors: AtomicU64,
}

/// What can happen to a packet, one counter each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A packet was read from the source device.
    Received,
    /// A packet was dropped by the loss model.
    Lost,
    /// A packet was dropped because the in-flight queue was full.
    QueueFull,
    /// A packet was picked for reordering and given the extra gap.
    HeldBack,
    /// A packet was written to the destination device.
    Forwarded,
    /// A packet left after a packet that arrived later than it did.
    Reordered,
    /// Writing a packet to the destination device failed; the packet is gone.
    WriteError,
}

impl Counters {
    /// Counts one `event`.
    pub fn record(&self, event: Event) {
        self.counter(event).fetch_add(1, Ordering::Relaxed);
    }

    /// The current values.
    pub fn snapshot(&self) -> Snapshot {
        let get = |event| self.counter(event).load(Ordering::Relaxed);
        Snapshot {
            received: get(Event::Received),
            lost: get(Event::Lost),
            queue_full: get(Event::QueueFull),
            held_back: get(Event::HeldBack),
            forwarded: get(Event::Forwarded),
            reordered: get(Event::Reordered),
            write_errors: get(Event::WriteError),
        }
    }

    fn counter(&self, event: Event) -> &AtomicU64 {
        match event {
            Event::Received => &self.received,
            Event::Lost => &self.lost,
            Event::QueueFull => &self.queue_full,
            Event::HeldBack => &self.held_back,
            Event::Forwarded => &self.forwarded,
            Event::Reordered => &self.reordered,
            Event::WriteError => &self.write_errors,
        }
    }
}

/// Counter values at one moment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// Packets read from the source device.
    pub received: u64,
    /// Packets dropped by the loss model.
    pub lost: u64,
    /// Packets dropped because the in-flight queue was full.
    pub queue_full: u64,
    /// Packets given the extra reorder gap.
    pub held_back: u64,
    /// Packets written to the destination device.
    pub forwarded: u64,
    /// Forwarded packets that left after a later arrival.
    pub reordered: u64,
    /// Packets whose write to the destination device failed.
    pub write_errors: u64,
}

impl fmt::Display for Snapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "received={} lost={} queue_full={} held_back={} forwarded={} reordered={} \
             write_errors={}",
            self.received,
            self.lost,
            self.queue_full,
            self.held_back,
            self.forwarded,
            self.reordered,
            self.write_errors
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_and_formats() {
        let counters = Counters::default();
        for event in [
            Event::Received,
            Event::Received,
            Event::Lost,
            Event::QueueFull,
            Event::HeldBack,
            Event::Forwarded,
            Event::Reordered,
            Event::WriteError,
        ] {
            counters.record(event);
        }
        assert_eq!(
            counters.snapshot().to_string(),
            "received=2 lost=1 queue_full=1 held_back=1 forwarded=1 reordered=1 write_errors=1"
        );
    }
}
