//! # kcpq-tokio
//!
//! KCPQ on tokio: an async [`Client`] and an embeddable [`Server`], with kcpq-smol's API.
//!
//! The client and server are `kcpq-async`'s, written once for every async runtime; this crate
//! lends them tokio's ([`Tokio`]: tokio's UDP socket, timers and tasks) and names them plainly
//! ([`Client`] is `kcpq_async::Client<Tokio>`). A program moving from kcpq-smol changes its
//! imports and the runtime it starts, nothing else. It needs a tokio runtime with its I/O and
//! time drivers enabled (`enable_all`, or `#[tokio::main]`); connect, bind and spawn from
//! within it.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use futures_lite::StreamExt;
//! use kcpq_tokio::{Client, core::crypto::KeySet};
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
//! [`Subscription`], [`Events`] and the other streams implement `futures_core::Stream`: read
//! them with `futures::StreamExt`, `futures_lite::StreamExt` or `tokio_stream::StreamExt`.
//!
//! [`Client::close`] and [`ServerHandle::shutdown`] stop at once; [`Client::drain`] and
//! [`ServerHandle::drain`] deliver what is queued first, like NATS's drain.
#![warn(missing_docs)]

mod runtime;
mod spawner;

pub use kcpq_core as core;

pub use kcpq_async::shared::*;
pub use runtime::{Tokio, TokioSocket, TokioTask, TokioTimer, with_timeout};
pub use spawner::Spawner;

/// A connection to a KCPQ server, on tokio ([`kcpq_async::Client`]).
pub type Client = kcpq_async::Client<Tokio>;
/// Everything [`Client::connect_with`] takes ([`kcpq_async::ClientOptions`]).
pub type ClientOptions = kcpq_async::ClientOptions<Tokio>;
/// A subscription handled by a callback ([`kcpq_async::CallbackSubscription`]).
pub type CallbackSubscription = kcpq_async::CallbackSubscription<Tokio>;
/// The embeddable broker, on tokio ([`kcpq_async::Server`]).
pub type Server = kcpq_async::Server<Tokio>;
/// Settings of [`Server::bind_with`] ([`kcpq_async::ServerOptions`]).
pub type ServerOptions = kcpq_async::ServerOptions<Tokio>;
