//! Counters of the subscription index.

/// A snapshot of a [`SubscriptionIndex`](super::SubscriptionIndex)'s counters and sizes.
///
/// Counters only grow (they wrap after 2^64 events); sizes are current values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IndexStats {
    /// Subscriptions currently held (plain and queue members).
    pub subscriptions: usize,
    /// Queue groups currently held.
    pub queue_groups: usize,
    /// Trie nodes currently allocated, the root included.
    pub trie_nodes: usize,
    /// Subjects currently cached.
    pub cache_entries: usize,
    /// Calls to `match_into`.
    pub matches: u64,
    /// Matches answered from the cache.
    pub cache_hits: u64,
    /// Matches that walked the trie (the cache was off, missed, or the subject was too long to
    /// cache).
    pub cache_misses: u64,
    /// Cache entries evicted to make room (CLOCK policy or a hash collision).
    pub cache_evictions: u64,
    /// Cache entries dropped because an insert or remove changed their answer.
    pub cache_invalidations: u64,
    /// Trie nodes visited by all matches that walked the trie.
    pub trie_nodes_visited: u64,
    /// Inserts refused because the index was full.
    pub inserts_refused_full: u64,
}
