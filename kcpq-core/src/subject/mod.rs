//! NATS-style subjects and the subscription index.
//!
//! # Subjects
//!
//! A subject is a `.`-separated list of non-empty tokens without whitespace, at most
//! [`SubjectLimits::max_len`] bytes and [`SubjectLimits::max_tokens`] tokens. Subscriptions use
//! *filters*, where the whole token `*` matches exactly one token and a final `>` matches one or
//! more: `foo.>` matches `foo.a` and `foo.a.b` but not `foo`. As in NATS, `*` or `>` inside a
//! longer token (`foo*`) is an ordinary character. Queue group names are single tokens. See
//! [`validate_subject`], [`validate_filter`], [`validate_queue_group`]; errors name the offending
//! token and its 1-based position.
//!
//! # The index
//!
//! [`SubscriptionIndex`] stores (filter, queue group, value) subscriptions in a token trie with
//! wildcard branches and answers "who receives a message on this subject" into a caller-owned
//! [`MatchResult`]:
//!
//! ```
//! use kcpq_core::subject::{IndexConfig, MatchResult, SubscriptionIndex};
//!
//! let mut index = SubscriptionIndex::new(IndexConfig::default());
//! index.insert("orders.*", None, 1u32)?;
//! index.insert("orders.>", Some("workers"), 2)?;
//! index.insert("orders.>", Some("workers"), 3)?;
//! let mut out = MatchResult::new();
//! index.match_into("orders.new", &mut out);
//! assert_eq!(out.plain(), &[1]);
//! assert_eq!(out.queued(), &[2]); // round-robin: 2, then 3, then 2...
//! index.match_into("orders.new", &mut out);
//! assert_eq!(out.queued(), &[3]);
//! # Ok::<(), kcpq_core::subject::InsertError>(())
//! ```
//!
//! Result order is deterministic: plain subscribers ascending, then one member per matching
//! queue group name in ascending name order. As in NATS, a group is its name: subscribers of
//! group `w` on `a.*` and on `a.>` share the messages on `a.b`, one delivery each. Nothing here iterates a randomly seeded
//! map; random queue choice draws from a caller-seeded ChaCha20 stream.
//!
//! Every table is bounded: subscriptions by [`IndexConfig::max_subscriptions`] (inserts beyond it
//! fail with [`InsertError::Full`]), the cache by [`IndexConfig::cache_capacity`] (CLOCK
//! eviction when full; see [`DEFAULT_CACHE_CAPACITY`]). An insert or remove drops exactly the
//! cached answers whose subject its filter matches, so the cache never answers stale.

mod cache;
mod hash;
mod index;
mod queue;
mod shared;
mod stats;
mod trie;
mod validate;

pub use cache::DEFAULT_CACHE_CAPACITY;
pub use index::{
    DEFAULT_MAX_SUBSCRIPTIONS, IndexConfig, InsertError, MatchResult, SubscriptionIndex,
};
pub use queue::QueueChoice;
pub use shared::Subject;
pub use stats::IndexStats;
pub use validate::{
    DEFAULT_MAX_SUBJECT_LEN, DEFAULT_MAX_TOKENS, SubjectError, SubjectKind, SubjectLimits,
    filter_matches, has_wildcards, validate_filter, validate_queue_group, validate_subject,
};
