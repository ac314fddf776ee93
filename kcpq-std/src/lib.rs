//! # kcpq-std
//!
//! The blocking adapter for KCPQ: one std thread per client or server drives a `kcpq-core` state
//! machine over a UDP socket, with no async runtime in the dependency tree (its threads sleep in
//! `mio`'s poller, which is no runtime: no executor, no tasks, no futures).
//!
//! ```
//! use std::time::Duration;
//! use kcpq_std::{Client, Server, ServerConfig};
//! use kcpq_std::core::crypto::{Key, KeySet};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // In production the pre-shared key comes from the environment: `KeySet::from_env()?`.
//! let keys = KeySet::single(Key::from_bytes([7; 32]));
//! let server = Server::bind("127.0.0.1:0", keys.clone(), ServerConfig::default())?;
//! let client = Client::connect(server.local_addr(), keys)?;
//!
//! // Clients publish and subscribe...
//! let sub = client.subscribe("orders.>")?;
//! client.publish("orders.new", b"42")?;
//! let message = sub.recv_timeout(Duration::from_secs(5))?;
//! assert_eq!(message.payload, b"42");
//!
//! // ...and so does the server's owner: to everyone, or to one client by name.
//! let audit = server.subscribe("orders.*")?;
//! client.publish("orders.paid", b"42")?;
//! assert_eq!(audit.recv_timeout(Duration::from_secs(5))?.subject, "orders.paid");
//! server.publish_to(client.client_name(), "orders.notice", b"thanks")?;
//!
//! // Draining delivers what is pending before closing.
//! client.drain(Duration::from_secs(5))?;
//! assert_eq!(sub.recv()?.subject, "orders.paid");
//! assert_eq!(sub.recv()?.payload, b"thanks");
//! assert!(sub.recv().is_err(), "the subscription ends after the drain");
//! server.drain(Duration::from_secs(5))?;
//! # Ok(()) }
//! ```
//!
//! The server's owner also sends requests ([`Server::request`], [`Server::request_to`]) and its
//! subscriptions are ordinary [`Subscription`]s, with the same bounded queue as a client's.
//! [`Client::close`] and [`Server::shutdown`] stop at once; [`Client::drain`] and
//! [`Server::drain`] deliver what is queued first.
//!
//! ## Threads
//!
//! Each [`Client`] owns one I/O thread, and each [`Server`] one per worker
//! ([`ServerOptions::workers`], default 1: each worker owns a share of the sessions and its own
//! socket on the server's address; the workers hand each other what concerns them through
//! `kcpq_core::adapter`'s bounded lanes, waking each other's thread). An I/O thread runs the drivers every adapter
//! shares (`kcpq_core::adapter`'s `ClientDriver` and `ServerDriver`, which apply commands and
//! route the core's events) and follows the core's drain contract literally (see `driver`):
//! apply the handles' commands, send every datagram `poll_transmit` yields, hand out every
//! event, then sleep in a poller (`mio`: epoll, kqueue) on its socket and a waker, with a
//! timeout equal to `poll_timeout` (no timer: no timeout), so an idle client or server does not
//! wake up. Handles talk to it through a bounded `sync_channel` and wake it through the waker
//! (an eventfd on Linux; one wake-up per burst of commands: see the `io` module). Callback
//! subscriptions each have one more thread that runs the callback.
//!
//! ## Queues and bounds
//!
//! Commands (bounded, `publish` waits for room up to a timeout), events (bounded, overflow
//! counted), and each subscription's messages ([`queue::BoundedQueue`] with its
//! [`queue::OverflowPolicy`], a [`Event::SlowConsumer`] once per burst of drops) are all bounded.
#![warn(missing_docs)]

mod client;
mod driver;
mod events;
mod io;
mod link;
pub mod queue;
mod server;
mod subscription;

pub use kcpq_core as core;

pub use client::{Client, ClientOptions};
pub use events::{Events, RecvError, RecvTimeoutError, ServerEvents, TryRecvError};
// The vocabulary every adapter shares: errors, events, messages and defaults, as the core has it.
pub use kcpq_core::adapter::{
    CloseError, ClosedError, ConnectError, DEFAULT_COMMAND_CAPACITY, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_EVENT_CAPACITY, DEFAULT_OPERATION_TIMEOUT, DEFAULT_SERVER_EVENT_CAPACITY,
    DEFAULT_SLOW_CALLBACK, DrainError, Event, FlushError, Message, PublishError, RequestError,
    ServerEvent, ServerPublishError, ServerRequestError, ServerSubscribeError, SessionInfo,
    SubscribeError, UnsubscribeError,
};
pub use kcpq_core::client::{ClientStats, SubscribeOptions};
pub use kcpq_core::queue::{OverflowPolicy, QueueLimits};
pub use kcpq_core::server::{ServerConfig, ServerStats};
pub use server::{BindError, QueryError, Server, ServerOptions, ShutdownError};
pub use subscription::{CallbackSubscription, ServerSubscription, Subscription};
