//! # kcpq-smol
//!
//! KCPQ on smol / async-io / futures-lite: an async [`Client`], an embeddable [`Server`], and
//! the `kcpq-server` and `kcpq` binaries (behind the default `cli` feature).
//!
//! One task owns each UDP socket and its `kcpq-core` state machine, following the core's drain
//! contract (no fixed tick: it sleeps until a datagram, an API command, or the core's next
//! deadline). API handles talk to it over bounded channels. This crate holds no protocol logic.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_lite::StreamExt;
//! use kcpq_smol::{Client, core::crypto::KeySet};
//!
//! let keys = KeySet::from_env()?;
//! let client = Client::connect("127.0.0.1:4000".parse()?, keys).await?;
//! let mut sub = client.subscribe("orders.>").await?;
//! client.publish("orders.new", "42").await?;
//! if let Some(message) = sub.next().await {
//!     println!("{}: {:?}", message.subject, message.payload);
//! }
//! client.close().await;
//! # Ok(())
//! # }
//! ```
//!
//! Where the driver tasks run is the caller's choice ([`Spawner`], in [`ClientOptions`] and
//! [`ServerOptions`]): smol's global executor by default, or an executor the caller runs on its
//! own thread, which keeps a message and its caller on one thread (the lower latency).
//!
//! [`Client::close`] and [`ServerHandle::shutdown`] stop at once; [`Client::drain`] and
//! [`ServerHandle::drain`] deliver what is queued first, like NATS's drain.
#![warn(missing_docs)]

mod client;
mod clock;
mod event_loop;
mod inbox;
pub mod keys;
mod message;
#[cfg(feature = "cli")]
pub mod preset;
mod server;
mod socket;
mod spawner;
mod timeout;

pub use kcpq_core as core;

pub use client::{
    CallbackSubscription, Client, ClientOptions, CloseError, ClosedError, ConnectError,
    DEFAULT_COMMAND_CAPACITY, DEFAULT_CONNECT_TIMEOUT, DEFAULT_EVENT_CAPACITY,
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_SLOW_CALLBACK, DrainError, Event, Events, FlushError,
    PublishError, RequestError, SubscribeError, Subscription, UnsubscribeError,
};
pub use kcpq_core::client::SubscribeOptions;
pub use kcpq_core::queue::{OverflowPolicy, QueueLimits};
pub use message::Message;
pub use server::{
    BindError, DEFAULT_SERVER_EVENT_CAPACITY, Server, ServerEvent, ServerEvents, ServerHandle,
    ServerOptions, ServerPublishError, ServerRequestError, ServerSubscribeError,
    ServerSubscription, SessionInfo, StoppedError,
};
pub use socket::{DEFAULT_SOCKET_BUFFER, SocketOptions};
pub use spawner::Spawner;
pub use timeout::{Elapsed, with_timeout};
