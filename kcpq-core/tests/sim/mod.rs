//! Test support: a deterministic simulated network on a virtual clock.
//!
//! Shared by the simulation tests through `mod sim;`. Everything is driven by one seed, so a
//! failing run reproduces exactly.

// Each test crate that includes this module uses a different part of it, and its items are
// `pub` for those crates, not for a library API.
#![allow(dead_code, unreachable_pub)]

pub mod net;
pub mod world;

use kcpq_core::client::ClientEvent;

/// The seeds a scenario runs: `0..default_count`, or the one in `KCPQ_SEED`.
pub fn seeds(default_count: u64) -> Vec<u64> {
    match std::env::var("KCPQ_SEED") {
        Ok(s) => vec![s.parse().expect("KCPQ_SEED is a number")],
        Err(_) => (0..default_count).collect(),
    }
}

/// The payloads a client received on subscription `sid`, in order.
pub fn messages_of(events: &[ClientEvent], sid: u32) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Message(m) if m.sid == sid => Some(m.payload.clone()),
            _ => None,
        })
        .collect()
}
