//! [`SubscriptionIndex`]: the trie, the match cache and queue member choice behind one API.

use super::cache::{DEFAULT_CACHE_CAPACITY, MatchCache};
use super::hash::hash_str;
use super::queue::{Chooser, Eligible, GroupId, QueueChoice};
use super::stats::IndexStats;
use super::trie::Trie;
use super::validate::{
    SubjectError, SubjectLimits, has_wildcards, validate_filter, validate_queue_group,
};

/// Default [`IndexConfig::max_subscriptions`]: 1 000 000.
///
/// A broker serves at least 20 000 sessions; this allows 50 subscriptions each while bounding
/// the index to a few hundred MB even with long, distinct filters.
pub const DEFAULT_MAX_SUBSCRIPTIONS: usize = 1_000_000;

/// Configuration of a [`SubscriptionIndex`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexConfig {
    /// Limits every filter and queue group name must respect; subjects longer than
    /// `limits.max_len` are matched but never cached.
    pub limits: SubjectLimits,
    /// The most subscriptions held at once (default [`DEFAULT_MAX_SUBSCRIPTIONS`]); further
    /// inserts fail with [`InsertError::Full`].
    pub max_subscriptions: usize,
    /// Subjects kept in the match cache (default [`DEFAULT_CACHE_CAPACITY`]); 0 turns it off.
    pub cache_capacity: usize,
    /// How queue groups choose a member (default round-robin).
    pub queue_choice: QueueChoice,
}

impl Default for IndexConfig {
    fn default() -> Self {
        IndexConfig {
            limits: SubjectLimits::default(),
            max_subscriptions: DEFAULT_MAX_SUBSCRIPTIONS,
            cache_capacity: DEFAULT_CACHE_CAPACITY,
            queue_choice: QueueChoice::default(),
        }
    }
}

impl IndexConfig {
    /// This configuration with other subject limits.
    pub fn with_limits(mut self, limits: SubjectLimits) -> Self {
        self.limits = limits;
        self
    }

    /// This configuration with another subscription bound.
    pub fn with_max_subscriptions(mut self, max_subscriptions: usize) -> Self {
        self.max_subscriptions = max_subscriptions;
        self
    }

    /// This configuration with another cache capacity (0 turns the cache off).
    pub fn with_cache_capacity(mut self, cache_capacity: usize) -> Self {
        self.cache_capacity = cache_capacity;
        self
    }

    /// This configuration with another queue member choice.
    pub fn with_queue_choice(mut self, queue_choice: QueueChoice) -> Self {
        self.queue_choice = queue_choice;
        self
    }
}

/// Why [`SubscriptionIndex::insert`] refused a subscription. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InsertError {
    /// The filter is not a valid subscription filter.
    #[error("invalid filter: {0}")]
    InvalidFilter(SubjectError),
    /// The queue group name is not valid.
    #[error("invalid queue group: {0}")]
    InvalidQueueGroup(SubjectError),
    /// The index holds [`IndexConfig::max_subscriptions`] subscriptions already.
    #[error(
        "the subscription index is full ({max} subscriptions); remove some or raise \
         IndexConfig::max_subscriptions"
    )]
    Full {
        /// The configured bound.
        max: usize,
    },
    /// This value is already subscribed with this filter and queue group.
    #[error(
        "this value is already subscribed to filter {filter:?}{}",
        queue_suffix(queue)
    )]
    Duplicate {
        /// The filter.
        filter: String,
        /// The queue group, if any.
        queue: Option<String>,
    },
}

fn queue_suffix(queue: &Option<String>) -> String {
    match queue {
        Some(q) => format!(" in queue group {q:?}"),
        None => String::new(),
    }
}

/// The subscribers a subject reaches: a reusable, caller-owned buffer filled by
/// [`SubscriptionIndex::match_into`].
///
/// Keep one per caller and pass it to every match: once its vectors have grown to the largest
/// answer, matching allocates nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MatchResult<T> {
    plain: Vec<T>,
    queued: Vec<T>,
}

impl<T: Copy> MatchResult<T> {
    /// An empty result buffer.
    pub fn new() -> Self {
        MatchResult {
            plain: Vec::new(),
            queued: Vec::new(),
        }
    }

    /// An empty result buffer with room for `plain` plain and `queued` queue subscribers.
    pub fn with_capacity(plain: usize, queued: usize) -> Self {
        MatchResult {
            plain: Vec::with_capacity(plain),
            queued: Vec::with_capacity(queued),
        }
    }

    /// Plain (non-queue) subscribers of every matching filter, ascending. A value subscribed
    /// through several matching filters appears once per subscription.
    pub fn plain(&self) -> &[T] {
        &self.plain
    }

    /// One member of each matching queue group name, in ascending name order. A group name
    /// used with several matching filters delivers once, to one member of the union of their
    /// subscribers (as NATS does).
    pub fn queued(&self) -> &[T] {
        &self.queued
    }

    /// Every delivery: the plain subscribers, then the chosen queue members.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        self.plain.iter().chain(self.queued.iter()).copied()
    }

    /// The number of deliveries.
    pub fn len(&self) -> usize {
        self.plain.len() + self.queued.len()
    }

    /// Whether nobody is interested in the subject.
    pub fn is_empty(&self) -> bool {
        self.plain.is_empty() && self.queued.is_empty()
    }

    /// Empties the buffer, keeping its capacity.
    pub fn clear(&mut self) {
        self.plain.clear();
        self.queued.clear();
    }
}

impl<T: Copy> Default for MatchResult<T> {
    fn default() -> Self {
        MatchResult::new()
    }
}

/// The subscription index ("sublist"): which subscribers a published subject reaches.
///
/// `T` is the small handle the caller stores per subscription (the broker uses session and
/// subscription ids). A subscription is a (filter, optional queue group, value) triple; the
/// same value may subscribe with several filters and is then delivered once per matching one.
///
/// - Matching walks a token trie ([module docs](super)) and answers from a bounded cache when it
///   can; [`match_into`](Self::match_into) allocates nothing in steady state.
/// - Each matching queue group *name* delivers to exactly one member, chosen per
///   [`QueueChoice`] among the subscribers of every matching filter in that group, as NATS
///   does: members of `w` on `a.*` and on `a.>` share the messages on `a.b`, each delivered
///   once. Cache hits still rotate the choice.
/// - Deterministic: results depend only on the configuration and the sequence of calls.
#[derive(Debug)]
pub struct SubscriptionIndex<T> {
    config: IndexConfig,
    trie: Trie<T>,
    cache: MatchCache<T>,
    chooser: Chooser,
    /// Queue groups of the current match when the cache is bypassed.
    scratch_groups: Vec<GroupId>,
    /// The union of a run's members under random choice.
    scratch_members: Vec<T>,
    len: usize,
    stats: IndexStats,
}

impl<T: Copy + Ord> SubscriptionIndex<T> {
    /// An empty index.
    pub fn new(config: IndexConfig) -> Self {
        SubscriptionIndex {
            trie: Trie::new(),
            cache: MatchCache::new(config.cache_capacity, config.limits.max_len),
            chooser: Chooser::new(&config.queue_choice),
            scratch_groups: Vec::new(),
            scratch_members: Vec::new(),
            len: 0,
            stats: IndexStats::default(),
            config,
        }
    }

    /// The configuration the index was built with.
    pub fn config(&self) -> &IndexConfig {
        &self.config
    }

    /// The number of subscriptions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the index holds no subscription.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Counters and sizes.
    pub fn stats(&self) -> IndexStats {
        IndexStats {
            subscriptions: self.len,
            queue_groups: self.trie.group_count(),
            trie_nodes: self.trie.node_count(),
            cache_entries: self.cache.len(),
            ..self.stats
        }
    }

    /// Subscribes `value` to `filter`, as a member of queue group `queue` if given.
    ///
    /// Cached answers this subscription changes are dropped (only those of subjects the filter
    /// matches). Cost: O(tokens) plus, for a filter with wildcards, one match test per cached
    /// subject.
    pub fn insert(
        &mut self,
        filter: &str,
        queue: Option<&str>,
        value: T,
    ) -> Result<(), InsertError> {
        validate_filter(filter, &self.config.limits).map_err(InsertError::InvalidFilter)?;
        if let Some(name) = queue {
            validate_queue_group(name, &self.config.limits)
                .map_err(InsertError::InvalidQueueGroup)?;
        }
        if self.len >= self.config.max_subscriptions && !self.trie.contains(filter, queue, value) {
            self.stats.inserts_refused_full += 1;
            return Err(InsertError::Full {
                max: self.config.max_subscriptions,
            });
        }
        if !self.trie.insert(filter, queue, value) {
            return Err(InsertError::Duplicate {
                filter: filter.into(),
                queue: queue.map(Into::into),
            });
        }
        self.len += 1;
        self.invalidate(filter);
        Ok(())
    }

    /// Whether exactly this (filter, queue, value) subscription is held.
    pub fn contains(&self, filter: &str, queue: Option<&str>, value: T) -> bool {
        self.trie.contains(filter, queue, value)
    }

    /// Unsubscribes exactly this (filter, queue, value) triple. Returns whether it existed;
    /// any string is accepted (an invalid filter was never inserted, so it is not found).
    pub fn remove(&mut self, filter: &str, queue: Option<&str>, value: T) -> bool {
        if !self.trie.remove(filter, queue, value) {
            return false;
        }
        self.len -= 1;
        self.invalidate(filter);
        true
    }

    /// Fills `out` (cleared first) with the subscribers `subject` reaches: see [`MatchResult`]
    /// for the order. Queue group choices advance on every call.
    ///
    /// `subject` should be a valid published subject ([`validate_subject`](super::validate_subject));
    /// any other string is matched token by token as if it were one, never panicking.
    /// Allocates nothing once `out` and the cache's buffers have grown to fit the answers.
    pub fn match_into(&mut self, subject: &str, out: &mut MatchResult<T>) {
        self.match_with(subject, None, out);
    }

    /// [`match_into`](Self::match_into), choosing each queue group's member only among those
    /// `eligible` accepts (a group with none of them delivers to nobody); plain subscribers are
    /// all listed. The broker excludes a no_echo publisher's own members so, as NATS does: the
    /// message goes to another member rather than being lost.
    pub fn match_eligible_into(
        &mut self,
        subject: &str,
        eligible: &dyn Fn(T) -> bool,
        out: &mut MatchResult<T>,
    ) {
        self.match_with(subject, Some(eligible), out);
    }

    fn match_with(&mut self, subject: &str, eligible: Eligible<'_, T>, out: &mut MatchResult<T>) {
        out.clear();
        self.stats.matches += 1;
        if !self.cache.is_enabled() || subject.len() > self.config.limits.max_len {
            self.stats.cache_misses += 1;
            let mut groups = std::mem::take(&mut self.scratch_groups);
            groups.clear();
            self.stats.trie_nodes_visited +=
                self.trie.collect(subject, &mut out.plain, &mut groups);
            out.plain.sort_unstable();
            self.trie.sort_groups(&mut groups);
            self.chooser.choose_all(
                self.trie.groups_mut(),
                &groups,
                eligible,
                &mut self.scratch_members,
                &mut out.queued,
            );
            self.scratch_groups = groups;
            return;
        }
        let hash = hash_str(subject);
        let index = match self.cache.lookup(hash, subject) {
            Some(index) => {
                self.stats.cache_hits += 1;
                index
            }
            None => {
                self.stats.cache_misses += 1;
                let (index, evicted) = self.cache.claim(hash, subject);
                if evicted {
                    self.stats.cache_evictions += 1;
                }
                let slot = self.cache.slot_mut(index);
                self.stats.trie_nodes_visited +=
                    self.trie
                        .collect(subject, &mut slot.plain, &mut slot.groups);
                slot.plain.sort_unstable();
                self.trie.sort_groups(&mut slot.groups);
                index
            }
        };
        let slot = self.cache.slot(index);
        out.plain.extend_from_slice(&slot.plain);
        self.chooser.choose_all(
            self.trie.groups_mut(),
            &slot.groups,
            eligible,
            &mut self.scratch_members,
            &mut out.queued,
        );
    }

    /// Drops the cached answers a change to `filter`'s subscriptions can affect.
    fn invalidate(&mut self, filter: &str) {
        if !self.cache.is_enabled() {
            return;
        }
        self.stats.cache_invalidations += if has_wildcards(filter) {
            self.cache.invalidate_matching(filter)
        } else {
            // A literal filter matches one subject only: itself.
            self.cache.invalidate_subject(hash_str(filter), filter)
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn index(cache_capacity: usize) -> SubscriptionIndex<u32> {
        SubscriptionIndex::new(IndexConfig::default().with_cache_capacity(cache_capacity))
    }

    fn hit(ix: &mut SubscriptionIndex<u32>, subject: &str) -> (Vec<u32>, Vec<u32>) {
        let mut out = MatchResult::new();
        ix.match_into(subject, &mut out);
        (out.plain().to_vec(), out.queued().to_vec())
    }

    #[test]
    fn results_are_sorted_and_the_cache_agrees_with_the_trie() {
        for capacity in [0, 4] {
            let mut ix = index(capacity);
            ix.insert("a.>", None, 9).unwrap();
            ix.insert("a.b", None, 3).unwrap();
            ix.insert("*.b", None, 5).unwrap();
            ix.insert("a.*", None, 3).unwrap();
            for _ in 0..3 {
                assert_eq!(hit(&mut ix, "a.b"), (vec![3, 3, 5, 9], vec![]));
            }
        }
    }

    #[test]
    fn inserts_and_removes_invalidate_exactly_the_affected_entries() {
        let mut ix = index(16);
        ix.insert("a.b", None, 1).unwrap();
        assert_eq!(hit(&mut ix, "a.b").0, [1]);
        assert_eq!(hit(&mut ix, "x.y").0, [] as [u32; 0]);
        ix.insert("a.*", None, 2).unwrap();
        assert_eq!(ix.stats().cache_invalidations, 1);
        assert_eq!(hit(&mut ix, "a.b").0, [1, 2]);
        ix.insert("x.y", None, 3).unwrap();
        assert_eq!(hit(&mut ix, "x.y").0, [3]);
        assert!(ix.remove("a.b", None, 1));
        assert_eq!(hit(&mut ix, "a.b").0, [2]);
        assert!(ix.remove("a.*", None, 2));
        assert_eq!(hit(&mut ix, "a.b").0, [] as [u32; 0]);
        // "x.y" was never touched by the "a" filters: still a hit.
        let hits = ix.stats().cache_hits;
        assert_eq!(hit(&mut ix, "x.y").0, [3]);
        assert_eq!(ix.stats().cache_hits, hits + 1);
    }

    #[test]
    fn queue_groups_rotate_on_cache_hits() {
        let mut ix = index(16);
        for m in [30, 10, 20] {
            ix.insert("job.*", Some("w"), m).unwrap();
        }
        ix.insert("job.run", Some("v"), 7).unwrap();
        let picks: Vec<Vec<u32>> = (0..4).map(|_| hit(&mut ix, "job.run").1).collect();
        assert_eq!(picks, [[7, 10], [7, 20], [7, 30], [7, 10]]);
        assert_eq!(ix.stats().cache_hits, 3);
        // The last member leaving drops the group and the cached answer.
        assert!(ix.remove("job.run", Some("v"), 7));
        assert_eq!(hit(&mut ix, "job.run").1, [20]);
        assert_eq!(ix.stats().queue_groups, 1);
    }

    #[test]
    fn a_group_name_delivers_once_across_its_matching_filters() {
        for (capacity, choice) in [
            (0, QueueChoice::RoundRobin),
            (16, QueueChoice::RoundRobin),
            (16, QueueChoice::Random { seed: [4; 32] }),
        ] {
            let config = IndexConfig::default()
                .with_cache_capacity(capacity)
                .with_queue_choice(choice);
            let mut ix = SubscriptionIndex::new(config);
            ix.insert("a.*", Some("w"), 1).unwrap();
            ix.insert("a.b", Some("w"), 2).unwrap();
            ix.insert("a.>", Some("w"), 3).unwrap();
            ix.insert("a.b", Some("x"), 9).unwrap();
            let mut per_member = [0; 4];
            for _ in 0..30 {
                let (plain, queued) = hit(&mut ix, "a.b");
                assert!(plain.is_empty());
                assert_eq!(queued.len(), 2, "one member of w, one of x: {queued:?}");
                assert_eq!(queued[1], 9);
                per_member[usize::try_from(queued[0]).unwrap()] += 1;
            }
            assert_eq!(per_member[1..].iter().sum::<i32>(), 30);
            assert!(per_member[1..].iter().all(|n| *n > 0), "{per_member:?}");
            // `a.c` reaches `a.*` and `a.>` only.
            for _ in 0..10 {
                assert!([1, 3].contains(&hit(&mut ix, "a.c").1[0]));
            }
        }
    }

    #[test]
    fn random_choice_is_seeded() {
        let run = |seed: [u8; 32]| {
            let config = IndexConfig::default().with_queue_choice(QueueChoice::Random { seed });
            let mut ix = SubscriptionIndex::new(config);
            for m in 0..8u32 {
                ix.insert("s", Some("q"), m).unwrap();
            }
            let mut out = MatchResult::new();
            (0..32)
                .map(|_| {
                    ix.match_into("s", &mut out);
                    out.queued()[0]
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(run([1; 32]), run([1; 32]));
        assert_ne!(run([1; 32]), run([2; 32]));
    }

    #[test]
    fn errors_full_and_duplicates() {
        let mut ix = SubscriptionIndex::new(IndexConfig::default().with_max_subscriptions(2));
        ix.insert("a", None, 1).unwrap();
        assert_eq!(
            ix.insert("a", None, 1),
            Err(InsertError::Duplicate {
                filter: "a".into(),
                queue: None
            })
        );
        ix.insert("a", Some("q"), 1).unwrap();
        assert_eq!(
            ix.insert("a", Some("q"), 1).unwrap_err().to_string(),
            "this value is already subscribed to filter \"a\" in queue group \"q\""
        );
        assert_eq!(ix.insert("b", None, 1), Err(InsertError::Full { max: 2 }));
        // Full, but a duplicate is reported as such.
        assert!(matches!(
            ix.insert("a", None, 1),
            Err(InsertError::Duplicate { .. })
        ));
        assert!(ix.contains("a", Some("q"), 1) && !ix.contains("b", None, 1));
        assert_eq!(ix.stats().inserts_refused_full, 1);
        assert!(matches!(
            ix.insert("a.>.b", None, 1),
            Err(InsertError::InvalidFilter(
                SubjectError::FullWildcardNotLast { .. }
            ))
        ));
        assert!(matches!(
            ix.insert("a", Some("x.y"), 3),
            Err(InsertError::InvalidQueueGroup(
                SubjectError::NotSingleToken { .. }
            ))
        ));
        assert!(!ix.remove("a.>.b", None, 1));
        assert!(ix.remove("a", None, 1));
        assert_eq!(ix.len(), 1);
        ix.insert("b", None, 1).unwrap();
        assert_eq!(ix.len(), 2);
    }

    #[test]
    fn long_subjects_are_matched_but_not_cached() {
        let config = IndexConfig::default().with_limits(SubjectLimits::new(8, 4));
        let mut ix = SubscriptionIndex::new(config);
        ix.insert(">", None, 1).unwrap();
        assert_eq!(hit(&mut ix, "a.very.long.subject").0, [1]);
        assert_eq!(hit(&mut ix, "a.very.long.subject").0, [1]);
        let s = ix.stats();
        assert_eq!((s.cache_hits, s.cache_misses, s.cache_entries), (0, 2, 0));
    }

    #[test]
    fn stats_count_sizes_and_events() {
        let mut ix = SubscriptionIndex::new(IndexConfig::default().with_cache_capacity(2));
        ix.insert("a.b", Some("q"), 1).unwrap();
        ix.insert("a.*", None, 2).unwrap();
        for s in ["a.b", "a.b", "a.c", "a.d"] {
            hit(&mut ix, s);
        }
        let s = ix.stats();
        assert_eq!(s.subscriptions, 2);
        assert_eq!(s.queue_groups, 1);
        assert_eq!(s.trie_nodes, 4);
        assert_eq!(s.matches, 4);
        assert_eq!(s.cache_hits, 1);
        assert_eq!(s.cache_misses, 3);
        assert_eq!(s.cache_evictions, 1);
        assert_eq!(s.cache_entries, 2);
        assert!(s.trie_nodes_visited >= 3 * 3);
    }
}
