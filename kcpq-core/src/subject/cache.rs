//! The bounded match cache: subject -> (plain subscribers, queue groups) of the last match.
//!
//! - Capacity: a fixed number of subjects ([`DEFAULT_CACHE_CAPACITY`] unless configured); `0`
//!   turns the cache off.
//! - Lookup: by a 64-bit hash of the subject in a map whose storage is reserved up front, then a
//!   string comparison, so a hit allocates nothing. Two subjects with the same hash share one
//!   entry: the newer replaces the older (counted as an eviction).
//! - Eviction when full: CLOCK (second chance). A hit marks its entry; the hand sweeps the
//!   entries, clearing marks, and evicts the first unmarked one. Recently used subjects survive,
//!   at O(1) amortised cost and without any per-hit bookkeeping beyond one flag.
//! - Invalidation: the index removes every entry whose subject matches a filter it inserts or
//!   removes (only those answers can change). Entries keep their buffers when they die, so
//!   refilling them allocates only when a new answer is larger than any the slot held before.
//! - Entries store candidate sets, never the queue member chosen, so rotation continues on hits.

use std::collections::HashMap;

use super::hash::FixedState;
use super::queue::GroupId;
use super::validate::filter_matches;

/// Default cache capacity: 1024 subjects.
///
/// A broker's hot set of published subjects is typically small (a few hundred topics); 1024
/// entries hold it while bounding the memory (subject text is at most
/// [`DEFAULT_MAX_SUBJECT_LEN`](super::DEFAULT_MAX_SUBJECT_LEN) bytes) and the cost of
/// invalidating by a wildcard filter, which checks every entry.
pub const DEFAULT_CACHE_CAPACITY: usize = 1024;

#[derive(Debug)]
pub(crate) struct Slot<T> {
    live: bool,
    referenced: bool,
    hash: u64,
    subject: String,
    /// Plain subscribers, sorted ascending.
    pub(crate) plain: Vec<T>,
    /// Queue groups, sorted by (name, filter).
    pub(crate) groups: Vec<GroupId>,
}

#[derive(Debug)]
pub(crate) struct MatchCache<T> {
    capacity: usize,
    key_capacity: usize,
    by_hash: HashMap<u64, usize, FixedState>,
    slots: Vec<Slot<T>>,
    /// Dead slots, ready for reuse. Every slot that is not live is in here.
    free: Vec<usize>,
    hand: usize,
}

impl<T> MatchCache<T> {
    /// A cache of `capacity` subjects of at most `key_capacity` bytes each.
    pub(crate) fn new(capacity: usize, key_capacity: usize) -> Self {
        // Twice the capacity keeps the map at most half full after tombstones, so it rehashes in
        // place instead of growing: no allocation once constructed.
        let map_capacity = capacity.saturating_mul(2);
        MatchCache {
            capacity,
            key_capacity,
            by_hash: HashMap::with_capacity_and_hasher(map_capacity, FixedState::default()),
            slots: Vec::with_capacity(capacity),
            free: Vec::with_capacity(capacity),
            hand: 0,
        }
    }

    pub(crate) fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    /// Live entries.
    pub(crate) fn len(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// The slot holding `subject`, marked as recently used.
    pub(crate) fn lookup(&mut self, hash: u64, subject: &str) -> Option<usize> {
        let &index = self.by_hash.get(&hash)?;
        let slot = &mut self.slots[index];
        if slot.subject != subject {
            return None;
        }
        slot.referenced = true;
        Some(index)
    }

    pub(crate) fn slot(&self, index: usize) -> &Slot<T> {
        &self.slots[index]
    }

    /// Claims an emptied slot for `subject` (which must not be cached) and returns its index
    /// and whether a live entry was evicted to make room.
    pub(crate) fn claim(&mut self, hash: u64, subject: &str) -> (usize, bool) {
        let (index, evicted) = if let Some(&same_hash) = self.by_hash.get(&hash) {
            (same_hash, true)
        } else if let Some(index) = self.free.pop() {
            (index, false)
        } else if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                live: false,
                referenced: false,
                hash: 0,
                subject: String::with_capacity(self.key_capacity),
                plain: Vec::new(),
                groups: Vec::new(),
            });
            (self.slots.len() - 1, false)
        } else {
            let victim = self.sweep();
            self.by_hash.remove(&self.slots[victim].hash);
            (victim, true)
        };
        let slot = &mut self.slots[index];
        slot.live = true;
        slot.referenced = false;
        slot.hash = hash;
        slot.subject.clear();
        slot.subject.push_str(subject);
        slot.plain.clear();
        slot.groups.clear();
        self.by_hash.insert(hash, index);
        (index, evicted)
    }

    pub(crate) fn slot_mut(&mut self, index: usize) -> &mut Slot<T> {
        &mut self.slots[index]
    }

    /// Drops the entry for exactly `subject`, if cached. Returns how many entries died (0 or 1).
    pub(crate) fn invalidate_subject(&mut self, hash: u64, subject: &str) -> u64 {
        match self.by_hash.get(&hash) {
            Some(&index) if self.slots[index].subject == subject => {
                self.kill(index);
                1
            }
            _ => 0,
        }
    }

    /// Drops every entry whose subject `filter` matches. Returns how many died.
    pub(crate) fn invalidate_matching(&mut self, filter: &str) -> u64 {
        let mut dropped = 0;
        for index in 0..self.slots.len() {
            let slot = &self.slots[index];
            if slot.live && filter_matches(filter, &slot.subject) {
                self.kill(index);
                dropped += 1;
            }
        }
        dropped
    }

    fn kill(&mut self, index: usize) {
        let slot = &mut self.slots[index];
        slot.live = false;
        slot.referenced = false;
        let hash = slot.hash;
        self.by_hash.remove(&hash);
        self.free.push(index);
    }

    /// The CLOCK hand: the first live, unmarked slot, clearing marks on the way. Only called
    /// when every slot is live, so it ends within two turns.
    fn sweep(&mut self) -> usize {
        loop {
            let index = self.hand;
            self.hand = (self.hand + 1) % self.slots.len();
            let slot = &mut self.slots[index];
            if !slot.live {
                continue;
            }
            if slot.referenced {
                slot.referenced = false;
                continue;
            }
            slot.live = false;
            return index;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::hash::hash_str;
    use super::*;

    fn put(c: &mut MatchCache<u32>, s: &str, v: u32) -> bool {
        let (i, evicted) = c.claim(hash_str(s), s);
        c.slot_mut(i).plain.push(v);
        evicted
    }

    fn get(c: &mut MatchCache<u32>, s: &str) -> Option<Vec<u32>> {
        c.lookup(hash_str(s), s).map(|i| c.slot(i).plain.clone())
    }

    #[test]
    fn clock_evicts_unreferenced_entries_first() {
        let mut c = MatchCache::new(4, 16);
        for (v, s) in ["a", "b", "c", "d"].into_iter().enumerate() {
            assert!(!put(&mut c, s, v as u32));
        }
        assert_eq!(c.len(), 4);
        assert_eq!(get(&mut c, "a"), Some(vec![0]));
        assert_eq!(get(&mut c, "b"), Some(vec![1]));
        // Full: "a" and "b" get a second chance, "c" is evicted.
        assert!(put(&mut c, "e", 4));
        assert_eq!(c.len(), 4);
        assert_eq!(get(&mut c, "c"), None);
        assert_eq!(get(&mut c, "e"), Some(vec![4]));
        // The hand now points at "d" (unmarked): it goes next.
        assert!(put(&mut c, "f", 5));
        assert_eq!(get(&mut c, "d"), None);
        assert_eq!(get(&mut c, "a"), Some(vec![0]));
        assert_eq!(get(&mut c, "b"), Some(vec![1]));
    }

    #[test]
    fn invalidation_kills_only_matching_entries_and_slots_are_reused() {
        let mut c = MatchCache::new(8, 16);
        for s in ["foo.a", "foo.b", "foo.a.b", "bar.a"] {
            put(&mut c, s, 1);
        }
        assert_eq!(c.invalidate_matching("foo.*"), 2);
        assert_eq!(get(&mut c, "foo.a"), None);
        assert_eq!(get(&mut c, "foo.b"), None);
        assert!(get(&mut c, "foo.a.b").is_some());
        assert_eq!(c.invalidate_subject(hash_str("bar.a"), "bar.a"), 1);
        assert_eq!(c.invalidate_subject(hash_str("bar.a"), "bar.a"), 0);
        assert_eq!(c.len(), 1);
        put(&mut c, "x", 1);
        put(&mut c, "y", 1);
        put(&mut c, "z", 1);
        // Three dead slots were reused, none added.
        assert_eq!(c.slots.len(), 4);
    }

    #[test]
    fn hash_collision_replaces_the_older_entry() {
        let mut c = MatchCache::new(4, 16);
        let (i, _) = c.claim(42, "one");
        c.slot_mut(i).plain.push(1);
        assert!(c.lookup(42, "two").is_none());
        let (j, evicted) = c.claim(42, "two");
        assert!(evicted);
        assert_eq!(i, j);
        assert!(c.lookup(42, "one").is_none());
        assert!(c.lookup(42, "two").is_some());
        assert!(c.slot(j).plain.is_empty());
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn zero_capacity_is_disabled() {
        let c: MatchCache<u32> = MatchCache::new(0, 16);
        assert!(!c.is_enabled());
        assert_eq!(c.len(), 0);
    }
}
