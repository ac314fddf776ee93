//! The one bounded queue with an overflow policy, used wherever messages wait for a consumer.
//!
//! A reliable stream cannot drop bytes once they are in it, so whole messages wait in a
//! [`BoundedQueue`] in front of it: on the server, per subscription, in front of the client's KCP
//! stream; in a client (and an adapter's subscription handle), per subscription, in front of the
//! application. The queue is bounded in messages and in bytes, and when a new message does not
//! fit, the [`OverflowPolicy`] decides which message is lost: the new one (drop-newest, the
//! default, as NATS) or the oldest ones (drop-oldest, right for live video where the newest frame
//! matters). Every drop is counted, and the first drop after a successful push is marked so the
//! owner reports a slow consumer once per burst instead of once per message.

use std::collections::VecDeque;

/// Default bound of one queue in messages: 65 536 (NATS's default is 512 K messages per
/// subscription in its clients; a broker-side queue is per subscriber and sized to ride out a
/// short stall, not to buffer a backlog).
pub const DEFAULT_QUEUE_MESSAGES: usize = 65_536;
/// Default bound of one queue in bytes: 64 MiB (NATS clients use 64 MB per subscription).
pub const DEFAULT_QUEUE_BYTES: usize = 64 * 1024 * 1024;

/// Which message is lost when a queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum OverflowPolicy {
    /// Keep what is queued and drop the new message (the default, as NATS).
    #[default]
    DropNewest,
    /// Drop the oldest messages until the new one fits: the consumer always sees the most
    /// recent data (live video, telemetry, game state).
    DropOldest,
}

/// The bounds of one queue. A message larger than `max_bytes` never fits and is always dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QueueLimits {
    /// Most messages waiting.
    pub max_messages: usize,
    /// Most bytes waiting (as [`Weighed::weight`] counts them).
    pub max_bytes: usize,
}

impl Default for QueueLimits {
    fn default() -> Self {
        QueueLimits {
            max_messages: DEFAULT_QUEUE_MESSAGES,
            max_bytes: DEFAULT_QUEUE_BYTES,
        }
    }
}

impl QueueLimits {
    /// Limits that hold at least `messages` messages of `size` bytes each (used by benchmarks and
    /// by callers that must never drop in a bounded run); never lower than the defaults.
    pub fn at_least(messages: usize, size: usize) -> QueueLimits {
        let defaults = QueueLimits::default();
        QueueLimits {
            max_messages: messages.max(defaults.max_messages),
            max_bytes: messages
                .saturating_mul(size.saturating_add(64))
                .max(defaults.max_bytes),
        }
    }
}

/// What a queued item costs against the byte bound.
pub trait Weighed {
    /// The item's size in bytes.
    fn weight(&self) -> usize;
}

impl Weighed for Vec<u8> {
    fn weight(&self) -> usize {
        self.len()
    }
}

/// What [`BoundedQueue::push`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum PushOutcome {
    /// The item was queued; `evicted` older items were dropped to make room (drop-oldest only).
    Queued {
        /// Older items dropped to make room.
        evicted: usize,
        /// Whether this push ended a run of successful pushes with a drop (report it once).
        first_of_burst: bool,
    },
    /// The item itself was dropped (drop-newest, or larger than the byte bound).
    Dropped {
        /// Whether this push ended a run of successful pushes with a drop (report it once).
        first_of_burst: bool,
    },
}

impl PushOutcome {
    /// Items lost by this push (the new one or evicted ones).
    pub fn dropped(self) -> usize {
        match self {
            PushOutcome::Queued { evicted, .. } => evicted,
            PushOutcome::Dropped { .. } => 1,
        }
    }

    /// Whether this push is the first drop of a burst, to be reported as a slow consumer.
    pub fn first_of_burst(self) -> bool {
        match self {
            PushOutcome::Queued { first_of_burst, .. }
            | PushOutcome::Dropped { first_of_burst } => first_of_burst,
        }
    }
}

/// A FIFO bounded in items and bytes, applying an [`OverflowPolicy`] when full.
#[derive(Debug, Clone)]
pub struct BoundedQueue<T> {
    items: VecDeque<T>,
    bytes: usize,
    limits: QueueLimits,
    policy: OverflowPolicy,
    dropped: u64,
    /// Whether the last push dropped something (a burst is reported at its first drop).
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

    /// Appends `item`, applying the policy when it does not fit.
    pub fn push(&mut self, item: T) -> PushOutcome {
        let weight = item.weight();
        if self.fits(weight) {
            self.in_burst = false;
            self.enqueue(item, weight);
            return PushOutcome::Queued {
                evicted: 0,
                first_of_burst: false,
            };
        }
        let first_of_burst = !self.in_burst;
        self.in_burst = true;
        let never_fits = weight > self.limits.max_bytes || self.limits.max_messages == 0;
        let outcome = if never_fits || self.policy == OverflowPolicy::DropNewest {
            PushOutcome::Dropped { first_of_burst }
        } else {
            let mut evicted = 0;
            while !self.fits(weight) {
                let Some(old) = self.items.pop_front() else {
                    break;
                };
                self.bytes -= old.weight();
                evicted += 1;
            }
            self.enqueue(item, weight);
            PushOutcome::Queued {
                evicted,
                first_of_burst,
            }
        };
        self.dropped += outcome.dropped() as u64;
        outcome
    }

    fn fits(&self, weight: usize) -> bool {
        self.items.len() < self.limits.max_messages
            && self.bytes.saturating_add(weight) <= self.limits.max_bytes
    }

    fn enqueue(&mut self, item: T, weight: usize) {
        self.bytes += weight;
        self.items.push_back(item);
    }

    /// Removes the oldest item.
    pub fn pop(&mut self) -> Option<T> {
        let item = self.items.pop_front()?;
        self.bytes -= item.weight();
        Some(item)
    }

    /// The oldest item, without removing it.
    pub fn front(&self) -> Option<&T> {
        self.items.front()
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Items dropped since the queue was made.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// The bounds.
    pub fn limits(&self) -> QueueLimits {
        self.limits
    }

    /// The policy.
    pub fn policy(&self) -> OverflowPolicy {
        self.policy
    }

    /// Changes the bounds. Items already queued stay, even beyond new, lower bounds; pushes
    /// apply the new bounds.
    pub fn set_limits(&mut self, limits: QueueLimits) {
        self.limits = limits;
    }

    /// Removes everything, returning how many items were removed (not counted as dropped).
    pub fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        self.bytes = 0;
        n
    }

    /// Iterates over the waiting items, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn queue(messages: usize, bytes: usize, policy: OverflowPolicy) -> BoundedQueue<Vec<u8>> {
        BoundedQueue::new(
            QueueLimits {
                max_messages: messages,
                max_bytes: bytes,
            },
            policy,
        )
    }

    #[test]
    fn drop_newest_keeps_the_oldest_and_reports_once_per_burst() {
        let mut q = queue(2, 100, OverflowPolicy::DropNewest);
        assert!(!q.push(vec![1]).first_of_burst());
        assert!(!q.push(vec![2]).first_of_burst());
        let third = q.push(vec![3]);
        assert_eq!(
            third,
            PushOutcome::Dropped {
                first_of_burst: true
            }
        );
        assert_eq!(
            q.push(vec![4]),
            PushOutcome::Dropped {
                first_of_burst: false
            }
        );
        assert_eq!(q.pop(), Some(vec![1]));
        assert!(
            !q.push(vec![5]).first_of_burst(),
            "a successful push ends the burst"
        );
        assert_eq!(
            q.push(vec![6]),
            PushOutcome::Dropped {
                first_of_burst: true
            }
        );
        assert_eq!(q.dropped(), 3);
        assert_eq!(
            q.iter().cloned().collect::<Vec<_>>(),
            vec![vec![2], vec![5]]
        );
    }

    #[test]
    fn drop_oldest_keeps_the_newest_within_the_byte_bound() {
        let mut q = queue(10, 10, OverflowPolicy::DropOldest);
        for i in 0..5u8 {
            let _ = q.push(vec![i; 2]);
        }
        let outcome = q.push(vec![9; 5]);
        assert_eq!(
            outcome,
            PushOutcome::Queued {
                evicted: 3,
                first_of_burst: true
            }
        );
        assert_eq!(q.bytes(), 9);
        assert_eq!(q.pop(), Some(vec![3; 2]));
        assert_eq!(q.dropped(), 3);
    }

    #[test]
    fn an_item_over_the_byte_bound_is_dropped_under_either_policy() {
        for policy in [OverflowPolicy::DropNewest, OverflowPolicy::DropOldest] {
            let mut q = queue(10, 4, policy);
            let _ = q.push(vec![1]);
            assert_eq!(
                q.push(vec![0; 5]),
                PushOutcome::Dropped {
                    first_of_burst: true
                }
            );
            assert_eq!(
                q.len(),
                1,
                "{policy:?} must not evict for an item that never fits"
            );
        }
    }

    #[test]
    fn at_least_covers_the_asked_count() {
        let l = QueueLimits::at_least(1_000_000, 128);
        assert!(l.max_messages >= 1_000_000);
        assert!(l.max_bytes >= 1_000_000 * 128);
    }

    /// The model: a plain Vec with the policy applied by brute force.
    fn model_push(
        model: &mut Vec<Vec<u8>>,
        item: Vec<u8>,
        limits: QueueLimits,
        policy: OverflowPolicy,
    ) {
        let bytes = |m: &Vec<Vec<u8>>| m.iter().map(Vec::len).sum::<usize>();
        if item.len() > limits.max_bytes || limits.max_messages == 0 {
            return;
        }
        let fits = |m: &Vec<Vec<u8>>| {
            m.len() < limits.max_messages && bytes(m) + item.len() <= limits.max_bytes
        };
        if fits(model) {
            model.push(item);
        } else if policy == OverflowPolicy::DropOldest {
            while !fits(model) {
                model.remove(0);
            }
            model.push(item);
        }
    }

    proptest! {
        #[test]
        fn matches_a_model(
            ops in proptest::collection::vec((any::<bool>(), 0usize..12), 0..200),
            max_messages in 0usize..8,
            max_bytes in 0usize..40,
            oldest in any::<bool>(),
        ) {
            let policy = if oldest { OverflowPolicy::DropOldest } else { OverflowPolicy::DropNewest };
            let limits = QueueLimits { max_messages, max_bytes };
            let mut q = BoundedQueue::new(limits, policy);
            let mut model: Vec<Vec<u8>> = Vec::new();
            let mut pushed = 0u64;
            let mut popped = 0u64;
            for (i, (is_push, size)) in ops.into_iter().enumerate() {
                if is_push {
                    let item = vec![i as u8; size];
                    pushed += 1;
                    let _ = q.push(item.clone());
                    model_push(&mut model, item, limits, policy);
                } else {
                    let expected = (!model.is_empty()).then(|| model.remove(0));
                    popped += u64::from(expected.is_some());
                    prop_assert_eq!(q.pop(), expected);
                }
                prop_assert!(q.len() <= max_messages && q.bytes() <= max_bytes);
                prop_assert_eq!(q.iter().cloned().collect::<Vec<_>>(), model.clone());
                prop_assert_eq!(pushed, popped + q.len() as u64 + q.dropped());
            }
        }
    }
}
