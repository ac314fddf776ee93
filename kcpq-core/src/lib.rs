//! # kcpq-core
//!
//! The whole KCPQ protocol as pure, deterministic state machines: no sockets, no threads, no clocks
//! and no global randomness. Time enters as an [`Instant`] argument, randomness as seeds supplied by
//! the caller, datagrams as byte slices; output leaves through `poll_*` calls into buffers the caller
//! owns. Given the same inputs, every state machine here produces the same outputs, bit for bit.
//!
//! Layers, each using only those listed before it:
//!
//! | module      | responsibility                                                  |
//! |-------------|-----------------------------------------------------------------|
//! | [`time`]    | the [`Instant`] type every call takes as `now`                  |
//! | [`rng`]     | the seeded ChaCha20 generator, the core's only randomness      |
//! | [`kcp`]     | the KCP ARQ (wire-compatible with the reference `ikcp.c`)       |
//! | [`crypto`]  | PSK keys, handshake, AES-256-CTR + HMAC-SHA256 packet protection |
//! | [`subject`] | NATS-style subject validation and the subscription index        |
//! | [`proto`]   | broker frames (CONNECT, SUB, PUB, MSG, ...) and their codec    |
//!
//! ## Panics, errors and unwraps
//!
//! Input from the network never panics and never returns an `Err`: a malformed, hostile or
//! unauthenticated datagram is dropped and counted in the owning state machine's statistics.
//! `Err` values (one `thiserror` enum per operation) report API misuse, such as a write larger than
//! a configured bound, with a message a user can act on. Every `expect` in this crate states the
//! invariant that makes it unreachable.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod client;
pub mod crypto;
pub mod fuzzing;
pub mod kcp;
pub mod proto;
pub mod rng;
pub mod server;
mod session;
pub mod subject;
pub mod time;

pub use session::CloseReason;
pub use time::Instant;
