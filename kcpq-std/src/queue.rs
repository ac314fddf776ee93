//! The per-subscription bounded queue and its overflow policy: `kcpq_core::queue`, re-exported.
//! The drop decision lives in the core; this adapter only pushes into it and reports the first
//! drop of each burst as [`Event::SlowConsumer`](crate::Event::SlowConsumer).

pub use kcpq_core::queue::*;
