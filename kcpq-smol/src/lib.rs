//! # kcpq-smol
//!
//! The async adapter for KCPQ on smol / async-io / futures-lite. One task owns the UDP socket and a
//! `kcpq-core` state machine; API handles talk to it over bounded channels.
//!
//! **Status:** not built yet. This crate is a placeholder in the workspace so the layering is
//! visible from the start; the client, the embeddable server and the `kcpq-server` binary arrive
//! once the core's broker state machines exist. See the README's status section.
#![warn(missing_docs)]

pub use kcpq_core as core;
