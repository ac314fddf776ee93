//! The errors of each client operation.

use std::time::Duration;

use kcpq_core::CloseReason;
use kcpq_core::client::{
    DrainError as CoreDrainError, FlushError as CoreFlushError, PublishError as CorePublishError,
    ServerError, SubscribeError as CoreSubscribeError, UnsubscribeError as CoreUnsubscribeError,
};
use kcpq_core::crypto::HandshakeError;

/// Why `connect` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// No local UDP socket could be opened.
    #[error("cannot open a local UDP socket: {0}")]
    Socket(#[source] std::io::Error),
    /// The handshake failed: the server holds another key, or no KCPQ server listens there.
    #[error("{0}; check that client and server use the same key and that the address is right")]
    Handshake(HandshakeError),
    /// The server refused the session (duplicate client name, session limit).
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
    /// The core refused it (invalid subject, payload too large, buffer full).
    #[error(transparent)]
    Refused(#[from] CorePublishError),
    /// The driver did not take the message within the operation timeout.
    #[error("the client's driver did not accept the message within {0:?}")]
    TimedOut(Duration),
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `subscribe` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The core refused it (invalid filter or queue group name, buffer full).
    #[error(transparent)]
    Invalid(#[from] CoreSubscribeError),
    /// The server refused it (too many subscriptions, invalid filter).
    #[error("the server refused the subscription: {0}")]
    Refused(ServerError),
    /// The server did not confirm it within the timeout (it may still take effect; it is then
    /// removed again).
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
    /// The core refused it.
    #[error(transparent)]
    Refused(#[from] CoreUnsubscribeError),
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `request` got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The core refused to send it (invalid subject, payload too large, too many requests).
    #[error(transparent)]
    Refused(#[from] CorePublishError),
    /// Nobody subscribes to the subject.
    #[error("no responders: nobody subscribes to {0}")]
    NoResponders(String),
    /// No reply within the timeout.
    #[error("no reply on {subject} within {timeout:?}")]
    TimedOut {
        /// The request subject.
        subject: String,
        /// The timeout.
        timeout: Duration,
    },
    /// The connection ended before the reply arrived.
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
    /// The core refused it (buffer full).
    #[error(transparent)]
    Refused(#[from] CoreFlushError),
    /// The server did not answer within the timeout, or the connection ended.
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
    /// Another drain is in progress; the client closes when it ends (watch for
    /// [`Event::Closed`](crate::Event::Closed)).
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

impl From<CoreDrainError> for DrainError {
    fn from(e: CoreDrainError) -> Self {
        match e {
            CoreDrainError::AlreadyDraining => DrainError::AlreadyDraining,
            // The core's error is non-exhaustive: any other refusal means it will not drain.
            _ => DrainError::Closed,
        }
    }
}

/// The client is closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the client is closed")]
pub struct ClosedError;
