//! # kcpq-bridge
//!
//! Forwards KCPQ subjects to a NATS server (or cluster) and NATS subjects back to KCPQ, each
//! route with its own subject mapping (see [`mapping`]); and KCPQ subjects to Kafka topics and
//! Kafka topics back to KCPQ, named by templates (see [`template`]). A TOML file configures it
//! (see [`config`]).
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
//! - **Request/reply** crosses the NATS routes: a forwarded request gets a reply subject under
//!   this bridge's [`reply_prefix`], and replies sent there go back to the requester.
//! - **Kafka.** Towards Kafka: an idempotent producer (`acks=all`, batched, compressed) whose
//!   unacknowledged bytes are bounded (`max_in_flight_bytes`: beyond it records are dropped and
//!   counted). From Kafka: a consumer group whose offsets are committed only after KCPQ
//!   confirmed a flush of the records (at least once), at most `commit_batch` records
//!   uncommitted. A record the other side cannot take (a name a template made invalid, a
//!   payload too large) is counted and skipped. The same origin header prevents loops.
//!
//! All three clients run on one tokio runtime: the KCPQ client is kcpq-tokio's (its driver is a
//! task of that runtime), async-nats and rdkafka's futures are tokio's. tokio, async-nats and
//! rdkafka stay in this crate, and only its `kcpq` module names the KCPQ client crate.
#![warn(missing_docs)]

mod bridge;
pub mod config;
mod counters;
mod kafka;
mod kcpq;
pub mod mapping;
mod nats;
mod relay;
pub mod template;

pub use bridge::{Bridge, BridgeEvent, ORIGIN_HEADER, StartError};
pub use config::{Config, ConfigError, Side};
pub use counters::{DirectionStats, Stats};
pub use relay::reply_prefix;
