//! What a client reports to the application: kcpq-core's events, the same in every adapter.

pub use kcpq_core::adapter::Event;
