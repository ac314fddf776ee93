//! Matching allocates nothing in steady state, counted by a global allocator: cache hits, cache
//! misses that evict, and matches with the cache turned off.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use kcpq_core::subject::{IndexConfig, MatchResult, QueueChoice, SubscriptionIndex};

thread_local! {
    /// Allocations made by this thread (tests run on parallel threads).
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: never panic inside the allocator, even during thread teardown.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; counting
// touches only a thread-local `Cell` with a const initialiser and no destructor.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const SUBJECTS: usize = 1000;

/// An index where every subject `s.<i>.x` reaches three plain subscribers and one queue group,
/// plus unrelated wildcard filters; returns it with the subjects to publish to.
fn populated(
    cache_capacity: usize,
    queue_choice: QueueChoice,
) -> (SubscriptionIndex<u32>, Vec<String>) {
    let mut config = IndexConfig::default();
    config.cache_capacity = cache_capacity;
    config.queue_choice = queue_choice;
    let mut index = SubscriptionIndex::new(config);
    let mut subjects = Vec::new();
    for i in 0..SUBJECTS as u32 {
        let subject = format!("s.{i}.x");
        index.insert(&subject, None, i).unwrap();
        index
            .insert(&format!("s.{i}.*"), None, 100_000 + i)
            .unwrap();
        for member in 0..3 {
            index
                .insert(&subject, Some("workers"), 200_000 + 3 * i + member)
                .unwrap();
        }
        index.insert(&format!("other.{i}.>"), None, i).unwrap();
        subjects.push(subject);
    }
    index.insert("s.>", None, 7).unwrap();
    (index, subjects)
}

/// Matches every subject `rounds` times (hot ones more often) and returns allocations made.
fn run(index: &mut SubscriptionIndex<u32>, subjects: &[String], out: &mut MatchResult<u32>) -> u64 {
    let before = allocations();
    for round in 0..3 {
        for (i, subject) in subjects.iter().enumerate() {
            index.match_into(subject, out);
            assert_eq!(out.len(), 4, "round {round} subject {subject}");
            // A small hot set, matched again at once: cache hits.
            let hot = &subjects[i % 16];
            index.match_into(hot, out);
            assert_eq!(out.len(), 4);
        }
    }
    allocations() - before
}

#[test]
fn steady_state_matching_allocates_nothing() {
    for (capacity, choice) in [
        (64, QueueChoice::RoundRobin),
        (64, QueueChoice::Random { seed: [5; 32] }),
        (0, QueueChoice::RoundRobin),
        (4096, QueueChoice::RoundRobin),
    ] {
        let (mut index, subjects) = populated(capacity, choice.clone());
        let mut out = MatchResult::new();
        // Warm-up: the result buffer, the scratch space and every cache slot reach their size.
        run(&mut index, &subjects, &mut out);
        let before = index.stats();
        let allocated = run(&mut index, &subjects, &mut out);
        let after = index.stats();
        assert_eq!(allocated, 0, "cache {capacity}, {choice:?}");
        assert!(after.matches - before.matches >= 6 * SUBJECTS as u64);
        if capacity == 64 {
            // The measured phase really exercised misses with eviction as well as hits.
            assert!(after.cache_misses - before.cache_misses >= 3 * (SUBJECTS as u64 - 16));
            assert!(after.cache_evictions - before.cache_evictions >= 2 * SUBJECTS as u64);
            assert!(after.cache_hits - before.cache_hits >= 2 * SUBJECTS as u64);
        }
        if capacity == 4096 {
            // Everything fits: all hits.
            assert_eq!(after.cache_misses, before.cache_misses);
        }
    }
}

#[test]
fn the_counter_sees_allocations() {
    let before = allocations();
    let v: Vec<u64> = Vec::with_capacity(16);
    assert!(allocations() > before);
    drop(v);
}
