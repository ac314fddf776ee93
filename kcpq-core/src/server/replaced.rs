//! Client instances whose name another instance took over, remembered for a while so that they
//! cannot take it back.
//!
//! The notice to a replaced session (`ERR Replaced`, then CLOSE) travels in one best-effort
//! datagram. If it is lost, the old instance learns that its session is gone from a stateless
//! reset and reconnects; without this memory it would take the name back and the two would
//! replace each other forever. Its CONNECT is refused with `ERR Replaced` instead, which ends
//! that client.
//!
//! Bounded: one entry per name (the instance replaced last), at most `capacity` names (the
//! oldest entry goes first when full), each forgotten after its time to live.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use crate::Instant;

#[derive(Debug)]
pub(crate) struct ReplacedInstances {
    /// Name -> (replaced instance, when the entry expires).
    by_name: HashMap<String, (u64, Instant)>,
    /// (expiry, name) in insertion order, which is expiry order: the time to live is fixed.
    expiry: VecDeque<(Instant, String)>,
    capacity: usize,
    ttl: Duration,
}

impl ReplacedInstances {
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Self {
        ReplacedInstances {
            by_name: HashMap::new(),
            expiry: VecDeque::new(),
            capacity,
            ttl,
        }
    }

    /// Remembers that `instance` lost `name` to another instance at `now`.
    pub(crate) fn remember(&mut self, now: Instant, name: &str, instance: u64) {
        self.forget_expired(now);
        if self.capacity == 0 {
            return;
        }
        while self.expiry.len() >= self.capacity {
            self.pop_oldest();
        }
        let expires = now + self.ttl;
        self.by_name.insert(name.to_owned(), (instance, expires));
        self.expiry.push_back((expires, name.to_owned()));
    }

    /// Whether `instance` lost `name` to another instance within the time to live.
    pub(crate) fn is_replaced(&mut self, now: Instant, name: &str, instance: u64) -> bool {
        self.forget_expired(now);
        self.by_name
            .get(name)
            .is_some_and(|(replaced, _)| *replaced == instance)
    }

    /// Names remembered now.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_name.len()
    }

    fn forget_expired(&mut self, now: Instant) {
        while self.expiry.front().is_some_and(|(at, _)| *at <= now) {
            self.pop_oldest();
        }
    }

    /// Drops the oldest queue entry, and its name's entry unless a newer one replaced it.
    fn pop_oldest(&mut self) {
        if let Some((at, name)) = self.expiry.pop_front()
            && self.by_name.get(&name).is_some_and(|(_, e)| *e == at)
        {
            self.by_name.remove(&name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::ZERO + Duration::from_secs(secs)
    }

    #[test]
    fn remembers_the_last_replaced_instance_per_name_until_it_expires() {
        let mut r = ReplacedInstances::new(8, Duration::from_secs(10));
        r.remember(at(0), "cam", 1);
        assert!(r.is_replaced(at(5), "cam", 1));
        assert!(!r.is_replaced(at(5), "cam", 2));
        assert!(!r.is_replaced(at(5), "other", 1));
        // Instance 2 took over and was itself replaced: the newer entry wins and lives on.
        r.remember(at(6), "cam", 2);
        assert!(!r.is_replaced(at(7), "cam", 1));
        assert!(r.is_replaced(at(12), "cam", 2));
        assert!(!r.is_replaced(at(16), "cam", 2));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn is_bounded_and_drops_the_oldest_when_full() {
        let mut r = ReplacedInstances::new(2, Duration::from_secs(100));
        for (i, name) in ["a", "b", "c"].iter().enumerate() {
            r.remember(at(i as u64), name, 7);
        }
        assert_eq!(r.len(), 2);
        assert!(!r.is_replaced(at(3), "a", 7));
        assert!(r.is_replaced(at(3), "b", 7) && r.is_replaced(at(3), "c", 7));
        let mut none = ReplacedInstances::new(0, Duration::from_secs(100));
        none.remember(at(0), "a", 1);
        assert!(!none.is_replaced(at(0), "a", 1));
    }
}
