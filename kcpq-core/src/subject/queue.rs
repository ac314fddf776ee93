//! Queue groups: the members of one (filter, group name) pair and the choice of one member per
//! message.

use crate::rng::{Rng, Seed};

/// How a queue group picks the one member that receives a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueChoice {
    /// Members take turns in ascending value order: after member `m` comes the smallest member
    /// greater than `m`, wrapping around. Joins and leaves never skip or repeat a turn beyond
    /// that rule, because the rotation remembers the last member served, not an index.
    #[default]
    RoundRobin,
    /// A uniformly random member, drawn from a ChaCha20 stream expanded from `seed`: the same
    /// seed and the same sequence of index operations reproduce the same choices.
    Random {
        /// The caller-supplied seed.
        seed: Seed,
    },
}

/// Index of a queue group in the [`QueueGroups`] slab.
pub(crate) type GroupId = usize;

/// The subscribers of one queue group: one filter, one group name.
#[derive(Debug)]
pub(crate) struct QueueGroup<T> {
    /// The filter the group's members subscribed with.
    pub(crate) filter: Box<str>,
    /// The group's name.
    pub(crate) name: Box<str>,
    /// Members, sorted ascending, without duplicates. Never empty while the group exists.
    pub(crate) members: Vec<T>,
    /// The member that received the previous message (round-robin only).
    last: Option<T>,
}

impl<T: Copy + Ord> QueueGroup<T> {
    /// The key that orders groups in match results.
    pub(crate) fn key(&self) -> (&str, &str) {
        (&self.filter, &self.name)
    }
}

/// A slab of queue groups with stable ids; freed ids are reused.
#[derive(Debug)]
pub(crate) struct QueueGroups<T> {
    slots: Vec<Option<QueueGroup<T>>>,
    free: Vec<GroupId>,
    live: usize,
}

impl<T: Copy + Ord> QueueGroups<T> {
    pub(crate) fn new() -> Self {
        QueueGroups {
            slots: Vec::new(),
            free: Vec::new(),
            live: 0,
        }
    }

    /// Creates an empty group and returns its id.
    pub(crate) fn create(&mut self, filter: &str, name: &str) -> GroupId {
        let group = QueueGroup {
            filter: filter.into(),
            name: name.into(),
            members: Vec::new(),
            last: None,
        };
        self.live += 1;
        match self.free.pop() {
            Some(id) => {
                self.slots[id] = Some(group);
                id
            }
            None => {
                self.slots.push(Some(group));
                self.slots.len() - 1
            }
        }
    }

    /// Drops a group; its id may be handed out again.
    pub(crate) fn release(&mut self, id: GroupId) {
        if self.slots[id].take().is_some() {
            self.live -= 1;
            self.free.push(id);
        }
    }

    pub(crate) fn get(&self, id: GroupId) -> &QueueGroup<T> {
        self.slots[id]
            .as_ref()
            .expect("group ids held by the trie and the cache always refer to live groups")
    }

    pub(crate) fn get_mut(&mut self, id: GroupId) -> &mut QueueGroup<T> {
        self.slots[id]
            .as_mut()
            .expect("group ids held by the trie and the cache always refer to live groups")
    }

    /// The number of live groups.
    pub(crate) fn len(&self) -> usize {
        self.live
    }
}

/// Picks members according to a [`QueueChoice`].
#[derive(Debug)]
pub(crate) enum Chooser {
    RoundRobin,
    Random(Box<Rng>),
}

impl Chooser {
    pub(crate) fn new(choice: &QueueChoice) -> Self {
        match choice {
            QueueChoice::RoundRobin => Chooser::RoundRobin,
            QueueChoice::Random { seed } => Chooser::Random(Box::new(Rng::from_seed(*seed))),
        }
    }

    /// The member of `group` that receives the next message.
    pub(crate) fn choose<T: Copy + Ord>(&mut self, group: &mut QueueGroup<T>) -> T {
        let members = &group.members;
        debug_assert!(!members.is_empty(), "empty groups are released");
        match self {
            Chooser::RoundRobin => {
                let next = match group.last {
                    Some(last) => members.partition_point(|m| *m <= last),
                    None => 0,
                };
                let chosen = members[if next < members.len() { next } else { 0 }];
                group.last = Some(chosen);
                chosen
            }
            Chooser::Random(rng) => {
                let len = u64::try_from(members.len()).expect("a Vec's length fits in u64");
                let index = usize::try_from(rng.below(len)).expect("below(len) < len");
                members[index]
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(members: &[u32]) -> QueueGroup<u32> {
        QueueGroup {
            filter: "f".into(),
            name: "q".into(),
            members: members.to_vec(),
            last: None,
        }
    }

    #[test]
    fn round_robin_takes_turns_in_order_and_survives_membership_changes() {
        let mut c = Chooser::new(&QueueChoice::RoundRobin);
        let mut g = group(&[10, 20, 30]);
        let picks: Vec<u32> = (0..6).map(|_| c.choose(&mut g)).collect();
        assert_eq!(picks, [10, 20, 30, 10, 20, 30]);
        assert_eq!(c.choose(&mut g), 10);
        // 20 leaves after 10 was served: the turn passes to 30, not back to 10.
        g.members.retain(|m| *m != 20);
        assert_eq!(c.choose(&mut g), 30);
        // 25 joins: it is served after 30 wraps around to 10.
        g.members = vec![10, 25, 30];
        assert_eq!(c.choose(&mut g), 10);
        assert_eq!(c.choose(&mut g), 25);
    }

    #[test]
    fn random_choice_is_reproducible_and_covers_members() {
        let seed = [9u8; 32];
        let mut a = Chooser::new(&QueueChoice::Random { seed });
        let mut b = Chooser::new(&QueueChoice::Random { seed });
        let mut ga = group(&[1, 2, 3, 4]);
        let mut gb = group(&[1, 2, 3, 4]);
        let pa: Vec<u32> = (0..64).map(|_| a.choose(&mut ga)).collect();
        let pb: Vec<u32> = (0..64).map(|_| b.choose(&mut gb)).collect();
        assert_eq!(pa, pb);
        for m in 1..=4 {
            assert!(pa.contains(&m), "member {m} never chosen in 64 draws");
        }
        let mut c = Chooser::new(&QueueChoice::Random { seed: [10u8; 32] });
        let mut gc = group(&[1, 2, 3, 4]);
        let pc: Vec<u32> = (0..64).map(|_| c.choose(&mut gc)).collect();
        assert_ne!(pa, pc);
    }

    #[test]
    fn slab_reuses_ids() {
        let mut s: QueueGroups<u32> = QueueGroups::new();
        let a = s.create("f", "a");
        let b = s.create("f", "b");
        assert_ne!(a, b);
        assert_eq!(s.len(), 2);
        s.release(a);
        assert_eq!(s.len(), 1);
        let c = s.create("g", "c");
        assert_eq!(c, a);
        assert_eq!(s.get(c).key(), ("g", "c"));
        assert_eq!(s.get(b).key(), ("f", "b"));
    }
}
