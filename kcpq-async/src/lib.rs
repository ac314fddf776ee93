//! # kcpq-async
//!
//! KCPQ's async [`Client`] and embeddable [`Server`], written once for any async runtime: the
//! runtime lends a UDP socket it can wait on, a timer and a place to run tasks ([`Runtime`]),
//! and everything else is here. Use it through an adapter, which names the runtime and
//! re-exports these types under plain names: `kcpq-smol` (smol, async-io) or `kcpq-tokio`.
//!
//! One task owns each UDP socket and its `kcpq-core` state machine, following the core's drain
//! contract ([`kcpq_core::Drive`]): no fixed tick; it sleeps until a datagram, an API command,
//! or the core's next deadline. API handles talk to it over bounded channels (`async-channel`,
//! which works on any executor). The drivers themselves (applying the commands,
//! routing the core's events to waiters, inboxes and event streams) and their bookkeeping are
//! `kcpq_core::adapter`'s, shared with the blocking adapter `kcpq-std`.
//!
//! [`Client::close`] and [`ServerHandle::shutdown`] stop at once; [`Client::drain`] and
//! [`ServerHandle::drain`] deliver what is queued first, like NATS's drain.
#![warn(missing_docs)]

mod channels;
mod client;
mod event_loop;
mod inbox;
pub mod keys;
mod message;
mod runtime;
mod server;
mod socket;
#[cfg(test)]
mod test_runtime;
mod timeout;

pub use client::{
    CallbackSubscription, Client, ClientOptions, CloseError, ClosedError, ConnectError,
    DEFAULT_COMMAND_CAPACITY, DEFAULT_CONNECT_TIMEOUT, DEFAULT_EVENT_CAPACITY,
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_SLOW_CALLBACK, DrainError, Event, Events, FlushError,
    PublishError, RequestError, SubscribeError, Subscription, UnsubscribeError,
};
pub use message::Message;
pub use runtime::{Interest, Runtime, Socket, Timer};
pub use server::{
    BindError, DEFAULT_SERVER_EVENT_CAPACITY, Server, ServerEvent, ServerEvents, ServerHandle,
    ServerOptions, ServerPublishError, ServerRequestError, ServerSubscribeError,
    ServerSubscription, SessionInfo, StoppedError,
};
pub use socket::{DEFAULT_SOCKET_BUFFER, SocketOptions};
pub use timeout::{Elapsed, with_timeout};

/// The types an adapter (kcpq-smol, kcpq-tokio) re-exports as they are, with a glob: the one
/// list of the async API's runtime-free vocabulary. The runtime-generic types ([`Client`],
/// [`Server`], their options, [`CallbackSubscription`]) are named by each adapter with its
/// runtime.
pub mod shared {
    pub use crate::keys;
    pub use crate::{
        BindError, CloseError, ClosedError, ConnectError, DEFAULT_COMMAND_CAPACITY,
        DEFAULT_CONNECT_TIMEOUT, DEFAULT_EVENT_CAPACITY, DEFAULT_OPERATION_TIMEOUT,
        DEFAULT_SERVER_EVENT_CAPACITY, DEFAULT_SLOW_CALLBACK, DEFAULT_SOCKET_BUFFER, DrainError,
        Elapsed, Event, Events, FlushError, Message, PublishError, RequestError, ServerEvent,
        ServerEvents, ServerHandle, ServerPublishError, ServerRequestError, ServerSubscribeError,
        ServerSubscription, SessionInfo, SocketOptions, StoppedError, SubscribeError, Subscription,
        UnsubscribeError,
    };
    pub use kcpq_core::client::SubscribeOptions;
    pub use kcpq_core::queue::{OverflowPolicy, QueueLimits};
}
