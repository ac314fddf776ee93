//! The errors of each client operation.

use kcpq_core::CloseReason;
use kcpq_core::client::ServerError;
use kcpq_core::crypto::HandshakeError;

use crate::clock::RandomnessError;
use crate::link::LinkError;

/// Why `connect` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The address did not resolve to any socket address.
    #[error("cannot resolve the server address {0:?}: {1}")]
    Resolve(String, std::io::Error),
    /// The local UDP socket (or the waker socket) could not be bound, or the I/O thread could
    /// not be started.
    #[error("cannot set up the local socket or I/O thread: {0}")]
    Io(#[from] std::io::Error),
    /// The OS random number generator failed.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
    /// The handshake failed: wrong key, no server there, or the server did not accept in time.
    #[error(transparent)]
    Handshake(HandshakeError),
    /// The session ended before it was ready (for example the server refused the client name).
    #[error("the server ended the session before it was ready: {0}")]
    Disconnected(CloseReason),
    /// No answer within the connect timeout plus a margin (the I/O thread is stuck).
    #[error("no connection within the timeout")]
    TimedOut,
}

/// Why `publish` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The subject, reply subject, headers or payload size are invalid.
    #[error(transparent)]
    Invalid(#[from] kcpq_core::client::PublishError),
    /// The command queue stayed full for the whole timeout: the network is slower than the
    /// publisher, or the client is disconnected. Slow down or raise `command_capacity`.
    #[error("the client's command queue stayed full for the whole timeout; slow down")]
    TimedOut,
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
    Invalid(#[from] kcpq_core::client::SubscribeError),
    /// The server refused the subscription.
    #[error("the server refused the subscription: {0}")]
    Refused(ServerError),
    /// The server did not confirm within the timeout (the subscription is withdrawn).
    #[error("the server did not confirm the subscription within the timeout")]
    TimedOut,
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `unsubscribe` failed (a client's subscription or the server owner's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsubscribeError {
    /// The command queue stayed full for the whole timeout.
    #[error("the command queue of the client or server stayed full for the whole timeout")]
    TimedOut,
    /// The client or server is closed.
    #[error("the client or server is closed")]
    Closed,
}

/// Why `request` got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The subject, headers or payload size are invalid, or too many requests are outstanding.
    #[error(transparent)]
    Invalid(#[from] kcpq_core::client::PublishError),
    /// Nobody subscribes to the subject.
    #[error("no responders: nobody subscribes to the request subject")]
    NoResponders,
    /// No reply within the timeout.
    #[error("request timed out")]
    TimedOut,
    /// The session ended before a reply came.
    #[error("disconnected before the reply arrived")]
    Disconnected,
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `flush` failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The core refused the flush.
    #[error(transparent)]
    Invalid(#[from] kcpq_core::client::FlushError),
    /// The server did not answer within the timeout, or the session ended first.
    #[error("the server did not answer the flush within the timeout")]
    TimedOut,
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `close_timeout` returned before the client finished closing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CloseError {
    /// The I/O thread did not finish within the timeout; it goes on closing in the background.
    #[error("the client did not finish closing within the timeout")]
    TimedOut,
}

/// Why `drain` returned before the client finished draining.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DrainError {
    /// The I/O thread did not finish within the drain timeout plus the close linger; it goes
    /// on in the background.
    #[error("the client did not finish draining within the timeout")]
    TimedOut,
    /// The client was already closed: nothing was drained.
    #[error("the client is closed")]
    Closed,
}

impl From<LinkError> for PublishError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => PublishError::Closed,
            LinkError::TimedOut => PublishError::TimedOut,
        }
    }
}

impl From<LinkError> for SubscribeError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => SubscribeError::Closed,
            LinkError::TimedOut => SubscribeError::TimedOut,
        }
    }
}

impl From<LinkError> for UnsubscribeError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => UnsubscribeError::Closed,
            LinkError::TimedOut => UnsubscribeError::TimedOut,
        }
    }
}

impl From<LinkError> for RequestError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => RequestError::Closed,
            LinkError::TimedOut => RequestError::TimedOut,
        }
    }
}

impl From<LinkError> for FlushError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => FlushError::Closed,
            LinkError::TimedOut => FlushError::TimedOut,
        }
    }
}
