//! A bounded timer heap: packets wait here until their release time.
//!
//! Packets are released in order of release time, and in arrival order when release times tie.
//! The heap also measures reordering as a receiver would see it: a packet is *reordered* when it
//! leaves after a packet that arrived later than it did (RFC 4737's notion of a reordered packet).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::time::Duration;

/// A packet leaving the [`Schedule`].
#[derive(Debug, PartialEq, Eq)]
pub struct Released<P> {
    /// The packet.
    pub payload: P,
    /// The release time it was scheduled for.
    pub at: Duration,
    /// Whether a packet that arrived after this one has already left.
    pub reordered: bool,
}

/// Bounded queue of packets ordered by release time.
#[derive(Debug)]
pub struct Schedule<P> {
    heap: BinaryHeap<Entry<P>>,
    limit: usize,
    next_seq: u64,
    highest_released: Option<u64>,
}

impl<P> Schedule<P> {
    /// An empty schedule that holds at most `limit` packets at a time.
    pub fn new(limit: usize) -> Self {
        Schedule {
            heap: BinaryHeap::with_capacity(limit.min(1 << 16)),
            limit,
            next_seq: 0,
            highest_released: None,
        }
    }

    /// Queues `payload` for release at `at`. When the schedule is full the packet is refused and
    /// handed back, as a router drops a packet arriving at a full queue.
    pub fn push(&mut self, at: Duration, payload: P) -> Result<(), P> {
        if self.heap.len() >= self.limit {
            return Err(payload);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Entry { at, seq, payload });
        Ok(())
    }

    /// The earliest release time of a queued packet, if any.
    pub fn next_release(&self) -> Option<Duration> {
        self.heap.peek().map(|entry| entry.at)
    }

    /// Removes and returns the next packet whose release time is at or before `now`.
    pub fn pop_due(&mut self, now: Duration) -> Option<Released<P>> {
        if self.heap.peek()?.at > now {
            return None;
        }
        let entry = self.heap.pop()?;
        let reordered = self.highest_released.is_some_and(|h| entry.seq < h);
        self.highest_released = Some(
            self.highest_released
                .map_or(entry.seq, |h| h.max(entry.seq)),
        );
        Some(Released {
            payload: entry.payload,
            at: entry.at,
            reordered,
        })
    }

    /// How many packets are queued.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no packet is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// The most packets the schedule holds at a time.
    pub fn limit(&self) -> usize {
        self.limit
    }
}

/// A queued packet; ordered so that [`BinaryHeap`] (a max-heap) pops the earliest release time
/// first and, among equal times, the earliest arrival.
#[derive(Debug)]
struct Entry<P> {
    at: Duration,
    seq: u64,
    payload: P,
}

impl<P> Entry<P> {
    fn key(&self) -> (Duration, u64) {
        (self.at, self.seq)
    }
}

impl<P> PartialEq for Entry<P> {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl<P> Eq for Entry<P> {}

impl<P> PartialOrd for Entry<P> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<P> Ord for Entry<P> {
    fn cmp(&self, other: &Self) -> Ordering {
        other.key().cmp(&self.key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn drain(schedule: &mut Schedule<u32>, now: Duration) -> Vec<(u32, bool)> {
        std::iter::from_fn(|| schedule.pop_due(now))
            .map(|r| (r.payload, r.reordered))
            .collect()
    }

    #[test]
    fn nothing_leaves_before_its_time() {
        let mut schedule = Schedule::new(8);
        schedule.push(ms(10), 1).expect("room");
        assert_eq!(schedule.next_release(), Some(ms(10)));
        assert!(schedule.pop_due(ms(9)).is_none());
        let released = schedule.pop_due(ms(10)).expect("due");
        assert_eq!((released.payload, released.at), (1, ms(10)));
        assert!(schedule.is_empty());
        assert_eq!(schedule.next_release(), None);
    }

    #[test]
    fn releases_by_time_then_arrival() {
        let mut schedule = Schedule::new(8);
        for (at, id) in [(30, 1), (10, 2), (10, 3), (20, 4)] {
            schedule.push(ms(at), id).expect("room");
        }
        assert_eq!(
            drain(&mut schedule, ms(100)),
            vec![(2, false), (3, false), (4, false), (1, true)]
        );
    }

    #[test]
    fn a_full_schedule_hands_the_packet_back() {
        let mut schedule = Schedule::new(2);
        schedule.push(ms(1), 1).expect("room");
        schedule.push(ms(1), 2).expect("room");
        assert_eq!(schedule.push(ms(1), 3), Err(3));
        assert_eq!(schedule.len(), schedule.limit());
        assert!(schedule.pop_due(ms(1)).is_some());
        schedule.push(ms(1), 4).expect("room again");
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let mut schedule = Schedule::new(0);
        assert_eq!(schedule.push(ms(0), 7), Err(7));
    }
}
