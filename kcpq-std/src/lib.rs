//! # kcpq-std
//!
//! The blocking adapter for KCPQ: one std thread per client or server drives a `kcpq-core` state
//! machine over a `std::net::UdpSocket`, with no async runtime in the dependency tree.
//!
//! **Status:** not built yet. This crate is a placeholder in the workspace so the layering is
//! visible from the start; the blocking client and server arrive once the core's broker state
//! machines exist. See the README's status section.
#![warn(missing_docs)]

pub use kcpq_core as core;
