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
//! | [`fec`]     | Reed-Solomon forward error correction of datagram groups        |
//! | [`subject`] | NATS-style subject validation and the subscription index        |
//! | [`proto`]   | broker frames (CONNECT, SUB, PUB, MSG, ...) and their codec    |
//! | [`queue`]   | bounded message queues with a drop-newest/drop-oldest policy    |
//! | [`server`]  | the broker: sessions, subscriptions, routing                   |
//! | `session`   | one established session: protection + KCP + frames + liveness  |
//! | [`client`]  | the client: connect, publish, subscribe, request, flush         |
//!
//! ## The drain contract
//!
//! [`server::Server`] and [`client::Client`] are driven the same way, and every adapter (the
//! smol and std crates, the hand-written `event_loop` example) follows this loop literally:
//!
//! - **Input** is `handle_datagram(now, from, &mut bytes)` for each datagram that arrives and
//!   `handle_timeout(now)` when the deadline from `poll_timeout` has passed (calling it early or
//!   twice is harmless). API calls (`publish`, `subscribe`, `request`, `flush`, `close`, ...) only
//!   change state and queue output; they never block.
//! - **After every input or API call, drain**: call `poll_transmit(now, &mut buf)` and send each
//!   datagram until it returns `None`, then take `poll_event()` until `None`. A burst of inputs
//!   that are already waiting (the datagrams one readiness wake-up finds, a run of API calls)
//!   may be handled first and drained once: output then coalesces into fuller datagrams and one
//!   ACK answers the burst. Keep bursts bounded (the adapters take at most 64 datagrams or 256
//!   calls) so that output is not held back long.
//! - **Then sleep** until the next datagram or `poll_timeout()`, whichever comes first. `None`
//!   means no timer is pending: sleep until a datagram arrives or the application calls the API.
//!   `poll_timeout` is only meaningful after `poll_transmit` returned `None`.
//!
//! ```no_run
//! # use kcpq_core::{Instant, server::Server};
//! # fn recv_until(_: Option<Instant>) -> Option<(std::net::SocketAddr, Vec<u8>)> { None }
//! # fn send(_: std::net::SocketAddr, _: &[u8]) {}
//! # fn clock() -> Instant { Instant::ZERO }
//! # fn run(server: &mut Server) {
//! let mut buf = vec![0u8; 65_536];
//! loop {
//!     let now = clock();
//!     while let Some(t) = server.poll_transmit(now, &mut buf) {
//!         send(t.destination, &buf[..t.len]);
//!     }
//!     while let Some(_event) = server.poll_event() { /* hand it to the application */ }
//!     match recv_until(server.poll_timeout()) {
//!         Some((from, mut datagram)) => server.handle_datagram(clock(), from, &mut datagram),
//!         None => server.handle_timeout(clock()),
//!     }
//! }
//! # }
//! ```
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

pub mod client;
pub mod crypto;
pub mod fec;
pub mod fuzzing;
pub mod kcp;
pub mod proto;
pub mod queue;
pub mod rng;
pub mod server;
mod session;
pub mod subject;
pub mod time;

pub use session::CloseReason;
pub use time::Instant;
