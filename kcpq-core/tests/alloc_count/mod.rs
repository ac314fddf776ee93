//! Test support: a global allocator that forwards to the system's and counts, per thread and
//! only while switched on, the allocations made and the bytes held. Shared by the `*_alloc`
//! tests through `mod alloc_count;` and their own `#[global_allocator]` static of [`Counting`].
#![allow(dead_code, unreachable_pub, unsafe_code)] // GlobalAlloc is unsafe to implement

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The counting allocator: `#[global_allocator] static GLOBAL: Counting = Counting;`.
pub struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    /// Allocations this thread made while counting (per thread: a global counter also counted
    /// what another test, counting on its own thread at the same time, allocated).
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    /// Bytes this thread allocated minus bytes it freed while counting.
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
}

// SAFETY: every call is forwarded unchanged to the system allocator; the counters and the
// thread-local flag (const-initialised, so reading them never allocates) have no effect on
// memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            LIVE_BYTES.with(|b| b.set(b.get() + layout.size() as isize));
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if COUNTING.with(Cell::get) {
            LIVE_BYTES.with(|b| b.set(b.get() - layout.size() as isize));
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.with(Cell::get) {
            ALLOCATIONS.with(|n| n.set(n.get() + 1));
            LIVE_BYTES.with(|b| b.set(b.get() + new_size as isize - layout.size() as isize));
        }
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Runs `f` with counting on: what it allocates and frees is charged to the counters.
pub fn charged<T>(f: impl FnOnce() -> T) -> T {
    COUNTING.with(|c| c.set(true));
    let result = f();
    COUNTING.with(|c| c.set(false));
    result
}

/// Runs `f` with counting on and returns what it returned and how many allocations it made.
pub fn allocations_of<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = allocations();
    let result = charged(f);
    (result, allocations() - before)
}

/// Allocations counted on this thread so far.
pub fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// Bytes held by what was allocated on this thread while counting, so far.
pub fn live_bytes() -> isize {
    LIVE_BYTES.with(Cell::get)
}

/// Runs `handle` with counting on if `deadline` has come by `now` (a machine's timer), and
/// returns the allocations it made (0 when it was not due).
pub fn charged_if_due(
    deadline: Option<kcpq_core::Instant>,
    now: kcpq_core::Instant,
    handle: impl FnOnce(),
) -> usize {
    if deadline.is_none_or(|t| t > now) {
        return 0;
    }
    allocations_of(handle).1
}
