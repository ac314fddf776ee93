//! Test support: a deterministic simulated network on a virtual clock.
//!
//! Shared by the simulation tests through `mod sim;`. Everything is driven by one seed, so a
//! failing run reproduces exactly.

// Each test crate that includes this module uses a different part of it, and its items are
// `pub` for those crates, not for a library API.
#![allow(dead_code, unreachable_pub)]

pub mod net;
pub mod world;
