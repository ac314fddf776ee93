//! Queue groups: the members of one (filter, group name) pair, and the choice of one member per
//! message among every matching group of one name.
//!
//! As in NATS, a queue group is identified by its *name*: a message reaches one member of each
//! group name, whichever of the name's filters each member subscribed with. The trie keeps one
//! [`QueueGroup`] per (filter, name) pair; a match merges the matching groups of one name into a
//! *run* and [`Chooser::choose`] picks one member of the run's union.

use crate::rng::{Rng, Seed};

/// How a queue group picks the one member that receives a message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum QueueChoice {
    /// Members take turns in ascending value order: after member `m` comes the smallest member
    /// greater than `m`, wrapping around. Joins and leaves never skip or repeat a turn beyond
    /// that rule, because the rotation remembers the last member served, not an index.
    ///
    /// Each (filter, name) group remembers the member it served last and when. A message whose
    /// subject matches several filters of one name continues from the most recent of those
    /// groups' last members, over the union of their members, and records its choice in each.
    #[default]
    RoundRobin,
    /// A uniformly random member of the union of the matching groups of one name, drawn from a ChaCha20 stream expanded from `seed`: the same
    /// seed and the same sequence of index operations reproduce the same choices.
    Random {
        /// The caller-supplied seed.
        seed: Seed,
    },
}

/// Which members may receive a message (`None`: all of them).
pub(crate) type Eligible<'a, T> = Option<&'a dyn Fn(T) -> bool>;

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
    /// The member that received this group's previous message and the chooser's turn number
    /// then (round-robin only).
    last: Option<(T, u64)>,
}

impl<T: Copy + Ord> QueueGroup<T> {
    /// The key that orders groups in match results: by name, so that the groups of one name are
    /// adjacent, then by filter.
    pub(crate) fn key(&self) -> (&str, &str) {
        (&self.name, &self.filter)
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
    /// Round-robin; `turn` numbers the choices made, so a run can tell which of its groups
    /// served last.
    RoundRobin {
        turn: u64,
    },
    Random(Box<Rng>),
}

impl Chooser {
    pub(crate) fn new(choice: &QueueChoice) -> Self {
        match choice {
            QueueChoice::RoundRobin => Chooser::RoundRobin { turn: 0 },
            QueueChoice::Random { seed } => Chooser::Random(Box::new(Rng::from_seed(*seed))),
        }
    }

    /// Appends to `out` one member per group name of `ids`, which must be sorted by
    /// [`QueueGroup::key`] so that the groups of one name are adjacent; with `eligible`, only
    /// among the members it accepts (a name without such a member delivers to none).
    /// `scratch` is reused storage (only runs of several groups under random choice, and
    /// random choice with `eligible`, use it).
    pub(crate) fn choose_all<T: Copy + Ord>(
        &mut self,
        groups: &mut QueueGroups<T>,
        ids: &[GroupId],
        eligible: Eligible<'_, T>,
        scratch: &mut Vec<T>,
        out: &mut Vec<T>,
    ) {
        let mut rest = ids;
        while let Some(&first) = rest.first() {
            let name = &groups.get(first).name;
            let len = 1 + rest[1..]
                .iter()
                .take_while(|id| groups.get(**id).name == *name)
                .count();
            let (run, tail) = rest.split_at(len);
            out.extend(self.choose(groups, run, eligible, scratch));
            rest = tail;
        }
    }

    /// The member of the union of `run`'s groups (non-empty, one name) that receives the next
    /// message: one `eligible` accepts, if given; `None` when it accepts none of them (the
    /// turn does not advance then).
    pub(crate) fn choose<T: Copy + Ord>(
        &mut self,
        groups: &mut QueueGroups<T>,
        run: &[GroupId],
        eligible: Eligible<'_, T>,
        scratch: &mut Vec<T>,
    ) -> Option<T> {
        let accepts = |member: &T| eligible.is_none_or(|eligible| eligible(*member));
        match self {
            Chooser::RoundRobin { turn } => {
                *turn += 1;
                if let ([only], None) = (run, eligible) {
                    // The common case, one filter per name: the general rule below, without
                    // its scans.
                    let group = groups.get_mut(*only);
                    let members = &group.members;
                    let next = group
                        .last
                        .map_or(0, |(last, _)| members.partition_point(|m| *m <= last));
                    let chosen = members[if next < members.len() { next } else { 0 }];
                    group.last = Some((chosen, *turn));
                    return Some(chosen);
                }
                let last = run
                    .iter()
                    .filter_map(|id| groups.get(*id).last)
                    .max_by_key(|(_, at)| *at)
                    .map(|(member, _)| member);
                let mut after = None;
                let mut smallest = None;
                for id in run {
                    let members = &groups.get(*id).members;
                    debug_assert!(!members.is_empty(), "empty groups are released");
                    if let Some(&first) = members.iter().find(|m| accepts(m)) {
                        smallest = Some(smallest.map_or(first, |s: T| s.min(first)));
                    }
                    if let Some(last) = last
                        && let Some(&next) = members[members.partition_point(|m| *m <= last)..]
                            .iter()
                            .find(|m| accepts(m))
                    {
                        after = Some(after.map_or(next, |a: T| a.min(next)));
                    }
                }
                let chosen = after.or(smallest)?;
                for id in run {
                    groups.get_mut(*id).last = Some((chosen, *turn));
                }
                Some(chosen)
            }
            Chooser::Random(rng) => {
                let members: &[T] = if let ([only], None) = (run, eligible) {
                    &groups.get(*only).members
                } else {
                    scratch.clear();
                    for id in run {
                        let members = &groups.get(*id).members;
                        scratch.extend(members.iter().copied().filter(|m| accepts(m)));
                    }
                    scratch.sort_unstable();
                    scratch.dedup();
                    scratch
                };
                if members.is_empty() {
                    debug_assert!(eligible.is_some(), "empty groups are released");
                    return None;
                }
                let len = u64::try_from(members.len()).expect("a Vec's length fits in u64");
                let index = usize::try_from(rng.below(len)).expect("below(len) < len");
                Some(members[index])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A slab holding one group per (filter, members) pair, all named `name`, and their ids.
    fn groups(name: &str, specs: &[(&str, &[u32])]) -> (QueueGroups<u32>, Vec<GroupId>) {
        let mut slab = QueueGroups::new();
        let ids = specs
            .iter()
            .map(|(filter, members)| {
                let id = slab.create(filter, name);
                slab.get_mut(id).members = members.to_vec();
                id
            })
            .collect();
        (slab, ids)
    }

    #[test]
    fn round_robin_takes_turns_in_order_and_survives_membership_changes() {
        let mut c = Chooser::new(&QueueChoice::RoundRobin);
        let (mut slab, ids) = groups("q", &[("f", &[10, 20, 30])]);
        let mut scratch = Vec::new();
        let mut pick = |slab: &mut QueueGroups<u32>| {
            c.choose(slab, &ids, None, &mut scratch).expect("a member")
        };
        let picks: Vec<u32> = (0..6).map(|_| pick(&mut slab)).collect();
        assert_eq!(picks, [10, 20, 30, 10, 20, 30]);
        assert_eq!(pick(&mut slab), 10);
        // 20 leaves after 10 was served: the turn passes to 30, not back to 10.
        slab.get_mut(ids[0]).members.retain(|m| *m != 20);
        assert_eq!(pick(&mut slab), 30);
        // 25 joins: it is served after 30 wraps around to 10.
        slab.get_mut(ids[0]).members = vec![10, 25, 30];
        assert_eq!(pick(&mut slab), 10);
        assert_eq!(pick(&mut slab), 25);
    }

    #[test]
    fn round_robin_over_a_run_serves_the_union_once_per_message() {
        let mut c = Chooser::new(&QueueChoice::RoundRobin);
        let (mut slab, ids) = groups("w", &[("a.*", &[1, 4]), ("a.b", &[2]), ("a.>", &[3, 4])]);
        let mut scratch = Vec::new();
        let picks: Vec<u32> = (0..5)
            .map(|_| {
                c.choose(&mut slab, &ids, None, &mut scratch)
                    .expect("a member")
            })
            .collect();
        assert_eq!(picks, [1, 2, 3, 4, 1]);
        // A subject matching `a.*` alone continues from that group's own last turn (1)...
        assert_eq!(c.choose(&mut slab, &ids[..1], None, &mut scratch), Some(4));
        // ...and the whole run from the most recent choice among its groups (4).
        assert_eq!(c.choose(&mut slab, &ids, None, &mut scratch), Some(1));
    }

    #[test]
    fn choose_all_picks_one_member_per_name() {
        let mut slab = QueueGroups::new();
        let mut ids = Vec::new();
        for (filter, name, members) in [
            ("a.*", "v", &[7u32][..]),
            ("a.*", "w", &[1, 2][..]),
            ("a.b", "w", &[3][..]),
        ] {
            let id = slab.create(filter, name);
            slab.get_mut(id).members = members.to_vec();
            ids.push(id);
        }
        for choice in [
            QueueChoice::RoundRobin,
            QueueChoice::Random { seed: [3; 32] },
        ] {
            let mut c = Chooser::new(&choice);
            let mut out = Vec::new();
            let mut seen = Vec::new();
            for _ in 0..64 {
                out.clear();
                c.choose_all(&mut slab, &ids, None, &mut Vec::new(), &mut out);
                assert_eq!(out.len(), 2, "{choice:?}: one member per name");
                assert_eq!(out[0], 7);
                assert!([1, 2, 3].contains(&out[1]));
                seen.push(out[1]);
            }
            for m in [1, 2, 3] {
                assert!(seen.contains(&m), "{choice:?}: member {m} never chosen");
            }
        }
    }

    #[test]
    fn random_choice_is_reproducible_and_covers_members() {
        let draw = |seed: u8| {
            let mut c = Chooser::new(&QueueChoice::Random { seed: [seed; 32] });
            let (mut slab, ids) = groups("q", &[("f", &[1, 2, 3, 4])]);
            (0..64)
                .map(|_| {
                    c.choose(&mut slab, &ids, None, &mut Vec::new())
                        .expect("a member")
                })
                .collect::<Vec<u32>>()
        };
        let pa = draw(9);
        assert_eq!(pa, draw(9));
        for m in 1..=4 {
            assert!(pa.contains(&m), "member {m} never chosen in 64 draws");
        }
        assert_ne!(pa, draw(10));
    }

    #[test]
    fn random_choice_over_a_run_counts_a_member_of_two_groups_once() {
        let mut c = Chooser::new(&QueueChoice::Random { seed: [5; 32] });
        let (mut slab, ids) = groups("w", &[("a.*", &[1, 2]), ("a.b", &[2])]);
        let mut scratch = Vec::new();
        let twos = (0..4000)
            .filter(|_| c.choose(&mut slab, &ids, None, &mut scratch) == Some(2))
            .count();
        // Uniform over {1, 2}: about 2000, far from the 2667 of a weighted draw.
        assert!((1800..2200).contains(&twos), "{twos} of 4000");
    }

    #[test]
    fn only_eligible_members_are_chosen() {
        let odd = |m: u32| m % 2 == 1;
        for choice in [
            QueueChoice::RoundRobin,
            QueueChoice::Random { seed: [6; 32] },
        ] {
            let mut c = Chooser::new(&choice);
            let (mut slab, ids) = groups("w", &[("a.*", &[1, 2]), ("a.b", &[3, 4])]);
            let mut scratch = Vec::new();
            let mut seen = Vec::new();
            for _ in 0..64 {
                let chosen = c.choose(&mut slab, &ids, Some(&odd), &mut scratch);
                let chosen = chosen.expect("1 and 3 are eligible");
                assert!(odd(chosen), "{choice:?}: {chosen} is not eligible");
                seen.push(chosen);
            }
            assert!(
                seen.contains(&1) && seen.contains(&3),
                "{choice:?}: {seen:?}"
            );
            let none = |_: u32| false;
            assert_eq!(c.choose(&mut slab, &ids, Some(&none), &mut scratch), None);
        }
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
        assert_eq!(s.get(c).key(), ("c", "g"));
        assert_eq!(s.get(b).key(), ("b", "f"));
    }
}
