//! # kcpq-bridge
//!
//! Forwards KCPQ subjects to a NATS server and NATS subjects back to KCPQ, each route with its
//! own subject mapping (see [`mapping`]), configured by a TOML file (see [`config`]).
//!
//! - **Reconnection.** Both clients reconnect by themselves and restore their subscriptions:
//!   the KCPQ client after a lost session, async-nats after a lost TCP connection (no limit on
//!   attempts, at most 2 s apart). Each change is logged and surfaced as a [`BridgeEvent`].
//!   Messages that arrive while the other side is down wait in a bounded queue.
//! - **Bounded everywhere.** Each direction has one queue of `queue_capacity` messages; when it is
//!   full, new messages are dropped and counted (`queue_full`). The counters are logged every
//!   `stats_interval_secs` and read with [`Bridge::stats`].
//! - **No loops.** Every message the bridge forwards gets one more [`ORIGIN_HEADER`]
//!   (`Kcpq-Bridge-Origin: <bridge id>`) header; headers already present are kept. The bridge
//!   drops (and counts as `looped`) every message that carries a `Kcpq-Bridge-Origin` header
//!   naming its own id, whichever side it comes from. So a message crosses each bridge at most
//!   once, even when routes in both directions overlap, or when several bridges with distinct
//!   ids join the same two systems. Give each bridge its own id.
//! - **Not forwarded:** reply subjects (request/reply does not cross the bridge).
//!
//! The KCPQ client is runtime-agnostic (its driver runs on smol's global executor), so the
//! bridge runs both clients on one tokio runtime; tokio and async-nats stay in this crate.
#![warn(missing_docs)]

mod bridge;
pub mod config;
mod counters;
pub mod mapping;

pub use bridge::{Bridge, BridgeEvent, ORIGIN_HEADER, StartError};
pub use config::{Config, ConfigError, Side};
pub use counters::{DirectionStats, Stats};
