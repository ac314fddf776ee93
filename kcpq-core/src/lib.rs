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
//! | [`drive`]   | the [`Drive`] trait (the drain contract) and [`Transmit`]       |
//! | [`rng`]     | the seeded ChaCha20 generator, the core's only randomness      |
//! | [`kcp`]     | the KCP ARQ (wire-compatible with the reference `ikcp.c`)       |
//! | [`crypto`]  | PSK keys, handshake, AES-256-CTR + HMAC-SHA256 packet protection |
//! | [`fec`]     | Reed-Solomon forward error correction of datagram groups        |
//! | [`subject`] | NATS-style subject validation and the subscription index        |
//! | [`proto`]   | broker frames (CONNECT, SUB, PUB, MSG, ...), codec, constants   |
//! | [`queue`]   | bounded message queues with a drop-newest/drop-oldest policy    |
//! | [`message`] | [`Message`], [`RequestId`], [`RequestFailure`]: what both ends deliver |
//! | `session`   | one established session: protection + KCP + frames + liveness  |
//! | [`server`]  | the broker: sessions, subscriptions, routing, workers           |
//! | [`client`]  | the client: connect, publish, subscribe, request, flush         |
//! | [`adapter`] | what every runtime adapter shares: drivers, options, errors     |
//!
//! ## The drain contract
//!
//! [`server::Server`] and [`client::Client`] are driven the same way, through the [`Drive`]
//! trait, whose documentation is the contract every adapter (kcpq-smol, kcpq-std, kcpq-tokio,
//! the hand-written `event_loop` example) follows literally: feed datagrams and timeouts, drain
//! `poll_transmit` then `poll_event` after every input or API call, then sleep until the next
//! datagram or `poll_timeout`. `now` never goes backwards. A server of several workers adds
//! one output and one input: drain `Server::poll_cross` with the others and hand each message
//! to its worker's `Server::handle_cross`, in order (see `server::WorkerGroup`).
//!
//! Idle costs nothing: with no traffic the only deadlines are the clients' pings and the
//! sessions' liveness checks, so a server with 10 000 idle sessions wakes up about
//! `sessions / ping interval` times a second, not `sessions * 100`.
//!
//! ## Panics, errors and unwraps
//!
//! Input from the network never panics and never returns an `Err`: a malformed, hostile or
//! unauthenticated datagram is dropped and counted in the owning state machine's statistics.
//! `Err` values (one `thiserror` enum per operation) report API misuse, such as an invalid subject
//! or a payload over the limit, with a message a user can act on. Every `expect` in this crate
//! states the invariant that makes it unreachable.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod adapter;
pub mod client;
pub mod crypto;
pub mod drive;
pub mod fec;
#[cfg(any(fuzzing, feature = "fuzzing"))]
pub mod fuzzing;
pub mod kcp;
pub mod message;
pub mod proto;
pub mod queue;
pub mod rng;
pub mod server;
mod session;
pub mod subject;
pub mod time;

pub use drive::{Drive, Transmit};
pub use message::{Message, RequestFailure, RequestId, Sid};
pub use session::CloseReason;
pub use subject::Subject;
pub use time::Instant;
