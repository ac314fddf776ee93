//! The per-subscription bounded queue and its overflow policy.
//!
//! The policy belongs to the core (`kcpq_core::queue`, landing with issue 7). Until it is
//! there, this module holds a stand-in with the same names and behaviour, so swapping in the
//! core's type is a change to this one file: `pub use kcpq_core::queue::*`.

use std::collections::VecDeque;

/// Default bound of messages waiting in one subscription: 65 536.
pub const DEFAULT_MAX_MESSAGES: usize = 65_536;
/// Default bound of bytes waiting in one subscription: 64 MiB (NATS's default pending bytes).
pub const DEFAULT_MAX_BYTES: usize = 64 * 1024 * 1024;

/// What to drop when a subscription's queue is full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum OverflowPolicy {
    /// Keep what is queued, drop the arriving message (the default).
    #[default]
    DropNewest,
    /// Drop the oldest queued messages to make room (live video: the newest frame matters).
    DropOldest,
}

/// Bounds of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueLimits {
    /// Most messages waiting.
    pub max_messages: usize,
    /// Most bytes waiting (see [`Weighed`]).
    pub max_bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_messages: DEFAULT_MAX_MESSAGES,
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// The bytes an item costs in a queue.
pub trait Weighed {
    /// The cost in bytes.
    fn weight(&self) -> usize;
}

/// What `push` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// The item is queued (nothing was dropped).
    Queued,
    /// Items were dropped by the policy.
    Dropped {
        /// How many (the new item, or old ones).
        dropped: usize,
        /// Whether this starts a burst of drops (the previous push queued without dropping).
        first_of_burst: bool,
    },
}

/// A FIFO bounded in items and bytes, applying an [`OverflowPolicy`] when full.
#[derive(Debug)]
pub struct BoundedQueue<T> {
    items: VecDeque<T>,
    bytes: usize,
    limits: QueueLimits,
    policy: OverflowPolicy,
    dropped: u64,
    in_burst: bool,
}

impl<T: Weighed> BoundedQueue<T> {
    /// An empty queue.
    pub fn new(limits: QueueLimits, policy: OverflowPolicy) -> Self {
        BoundedQueue {
            items: VecDeque::new(),
            bytes: 0,
            limits,
            policy,
            dropped: 0,
            in_burst: false,
        }
    }

    fn fits(&self, weight: usize) -> bool {
        self.items.len() < self.limits.max_messages
            && self.bytes.saturating_add(weight) <= self.limits.max_bytes
    }

    /// Queues `item`, applying the policy if the queue is full.
    pub fn push(&mut self, item: T) -> PushOutcome {
        let weight = item.weight();
        let mut dropped = 0;
        if !self.fits(weight) {
            match self.policy {
                OverflowPolicy::DropNewest => dropped = 1,
                OverflowPolicy::DropOldest => {
                    while !self.fits(weight) && self.pop().is_some() {
                        dropped += 1;
                    }
                    if !self.fits(weight) {
                        dropped += 1;
                    }
                }
            }
        }
        let queued = dropped == 0 || self.fits(weight);
        if queued {
            self.bytes += weight;
            self.items.push_back(item);
        }
        if dropped == 0 {
            self.in_burst = false;
            return PushOutcome::Queued;
        }
        self.dropped += dropped as u64;
        let first_of_burst = !self.in_burst;
        self.in_burst = true;
        PushOutcome::Dropped {
            dropped,
            first_of_burst,
        }
    }

    /// The oldest item.
    pub fn pop(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.bytes -= item.weight();
        Some(item)
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Items dropped so far.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The bounds.
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Weighed for usize {
        fn weight(&self) -> usize {
            *self
        }
    }

    fn limits(max_messages: usize, max_bytes: usize) -> QueueLimits {
        QueueLimits {
            max_messages,
            max_bytes,
        }
    }

    #[test]
    fn drop_newest_keeps_the_head_and_reports_one_burst() {
        let mut q = BoundedQueue::new(limits(2, 100), OverflowPolicy::DropNewest);
        assert_eq!(q.push(1), PushOutcome::Queued);
        assert_eq!(q.push(2), PushOutcome::Queued);
        let first = PushOutcome::Dropped {
            dropped: 1,
            first_of_burst: true,
        };
        assert_eq!(q.push(3), first);
        assert!(matches!(
            q.push(4),
            PushOutcome::Dropped {
                first_of_burst: false,
                ..
            }
        ));
        assert_eq!((q.pop(), q.dropped()), (Some(1), 2));
        assert_eq!(q.push(5), PushOutcome::Queued);
        assert_eq!(q.push(6), first);
    }

    #[test]
    fn drop_oldest_makes_room_by_bytes() {
        let mut q = BoundedQueue::new(limits(10, 10), OverflowPolicy::DropOldest);
        q.push(4);
        q.push(4);
        assert!(matches!(q.push(6), PushOutcome::Dropped { dropped: 2, .. }));
        assert_eq!((q.len(), q.bytes(), q.pop()), (1, 6, Some(6)));
        assert!(matches!(
            q.push(11),
            PushOutcome::Dropped { dropped: 1, .. }
        ));
        assert!(q.is_empty());
    }
}
