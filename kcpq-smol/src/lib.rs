//! # kcpq-smol
//!
//! KCPQ on smol / async-io / futures-lite: an async [`Client`], an embeddable [`Server`], and
//! the `kcpq-server` and `kcpq` binaries (behind the default `cli` feature).
//!
//! The client and server are `kcpq-async`'s, written once for every async runtime; this crate
//! lends them smol's ([`Smol`]: async-io's reactor and timers, smol's executors) and names them
//! plainly ([`Client`] is `kcpq_async::Client<Smol>`). kcpq-tokio does the same on tokio, with
//! the same API. This crate holds no protocol logic and no client or server logic.
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

#[cfg(feature = "cli")]
pub mod preset;
mod runtime;
mod spawner;

pub use kcpq_core as core;

pub use kcpq_async::shared::*;
pub use runtime::{Smol, SmolSocket, SmolTimer, with_timeout};
pub use spawner::Spawner;

/// A connection to a KCPQ server, on smol ([`kcpq_async::Client`]).
pub type Client = kcpq_async::Client<Smol>;
/// Everything [`Client::connect_with`] takes ([`kcpq_async::ClientOptions`]).
pub type ClientOptions = kcpq_async::ClientOptions<Smol>;
/// A subscription handled by a callback ([`kcpq_async::CallbackSubscription`]).
pub type CallbackSubscription = kcpq_async::CallbackSubscription<Smol>;
/// The embeddable broker, on smol ([`kcpq_async::Server`]).
pub type Server = kcpq_async::Server<Smol>;
/// Settings of [`Server::bind_with`] ([`kcpq_async::ServerOptions`]).
pub type ServerOptions = kcpq_async::ServerOptions<Smol>;
