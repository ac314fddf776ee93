//! The errors of a runtime adapter's client operations: one set, the same variants and
//! messages in every adapter.

use std::time::Duration;

use crate::CloseReason;
use crate::client::{self, ServerError};
use crate::crypto::HandshakeError;

/// Why `connect` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The address did not resolve to any socket address.
    #[error("cannot resolve the server address {0:?}: {1}")]
    Resolve(String, #[source] std::io::Error),
    /// The local UDP socket could not be opened, or the driver (task or thread) or the OS
    /// randomness it needs could not be had.
    #[error("cannot set up the local socket or the client's driver: {0}")]
    Io(#[from] std::io::Error),
    /// The handshake failed: the server holds another key, or no KCPQ server listens there.
    #[error("{0}; check that client and server use the same key and that the address is right")]
    Handshake(HandshakeError),
    /// The server refused the session (session limit, a name it does not accept).
    #[error("the server refused the connection: {0}")]
    Refused(ServerError),
    /// The session ended before it was ready.
    #[error("the connection ended before it was ready: {0}")]
    Disconnected(CloseReason),
    /// Nothing conclusive happened within the connect timeout.
    #[error("no answer from the server within {0:?}")]
    TimedOut(Duration),
}

/// Why `publish` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The subject, reply subject, headers or payload size are invalid, or the outbox is full.
    #[error(transparent)]
    Invalid(#[from] client::PublishError),
    /// The driver did not take the message within the operation timeout: the network is slower
    /// than the publisher, or the client is disconnected.
    #[error("the client's driver did not accept the message within {0:?}; slow down")]
    TimedOut(Duration),
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `subscribe` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The filter or queue group name is invalid.
    #[error(transparent)]
    Invalid(#[from] client::SubscribeError),
    /// The server refused it (too many subscriptions, invalid filter).
    #[error("the server refused the subscription: {0}")]
    Refused(ServerError),
    /// The server did not confirm it within the timeout (the subscription is withdrawn).
    #[error("the server did not confirm the subscription within {0:?}")]
    TimedOut(Duration),
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `unsubscribe` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsubscribeError {
    /// The core refused it (the subscription is unknown).
    #[error(transparent)]
    Invalid(#[from] client::UnsubscribeError),
    /// The driver did not take the command within the timeout.
    #[error("the client's driver did not take the unsubscribe within {0:?}")]
    TimedOut(Duration),
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `request` got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The subject, headers or payload size are invalid, or too many requests are outstanding.
    #[error(transparent)]
    Invalid(#[from] client::PublishError),
    /// Nobody subscribes to the subject.
    #[error("no responders: nobody subscribes to the request subject")]
    NoResponders,
    /// No reply within the timeout.
    #[error("no reply within {0:?}")]
    TimedOut(Duration),
    /// The session ended before the reply arrived.
    #[error("the connection ended before the reply arrived")]
    Disconnected,
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `flush` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The core refused the flush (outbox full).
    #[error(transparent)]
    Invalid(#[from] client::FlushError),
    /// The server did not answer within the timeout, or the session ended first.
    #[error("the server did not confirm the flush within {0:?}")]
    TimedOut(Duration),
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `drain` returned before the client finished draining.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DrainError {
    /// Another drain is in progress; the client closes when it ends.
    #[error("the client is already draining; it closes when that drain ends")]
    AlreadyDraining,
    /// The client is closed or closing: nothing was drained.
    #[error("the client is already closed")]
    Closed,
    /// The driver did not finish within the drain timeout plus the close linger and the
    /// operation timeout; the client goes on closing in the background.
    #[error(
        "the client did not finish draining within {0:?}; it goes on closing in the background"
    )]
    TimedOut(Duration),
}

impl From<client::DrainError> for DrainError {
    fn from(e: client::DrainError) -> Self {
        match e {
            client::DrainError::AlreadyDraining => DrainError::AlreadyDraining,
            // The core's error is non-exhaustive: any other refusal means it will not drain.
            _ => DrainError::Closed,
        }
    }
}

/// Why a close with a timeout returned before the client finished closing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The driver did not finish within the timeout; it goes on closing in the background.
    #[error("the client did not finish closing within {0:?}")]
    TimedOut(Duration),
}

/// The client is closed: what a query of a closed client (its statistics) returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client is closed")]
pub struct ClosedError;
