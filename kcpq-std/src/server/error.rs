//! The errors of each server operation.

use kcpq_core::server::ServerConfigError;

use crate::clock::RandomnessError;
use crate::link::LinkError;

/// Why `Server::bind` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The address did not resolve, could not be bound, or the I/O thread could not start.
    #[error("cannot bind the server socket or start its thread: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ServerConfigError),
    /// The OS random number generator failed.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
}

/// Why a query to the server (`sessions`, `stats`) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The I/O thread did not answer within the timeout.
    #[error("the server did not answer within the timeout")]
    TimedOut,
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// Why `shutdown_timeout` or `drain` returned before the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The I/O thread did not stop within the timeout; it goes on stopping in the background.
    #[error("the server did not stop within the timeout")]
    TimedOut,
}

impl From<LinkError> for QueryError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => QueryError::Stopped,
            LinkError::TimedOut(_) => QueryError::TimedOut,
        }
    }
}

/// Why a publish by the server's owner (`Server::publish` and friends) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerPublishError {
    /// The core refused it: invalid subject, reply or headers, payload too large, no client by
    /// that name, or the server is draining or shutting down.
    #[error(transparent)]
    Refused(#[from] kcpq_core::server::ServerPublishError),
    /// The I/O thread did not answer within the timeout.
    #[error("the server did not answer within the timeout")]
    TimedOut,
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// Why a subscription of the server's owner (`Server::subscribe` and friends) failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerSubscribeError {
    /// The core refused it: invalid filter or queue group, or the subscription index is full.
    #[error(transparent)]
    Refused(#[from] kcpq_core::server::ServerSubscribeError),
    /// The I/O thread did not answer within the timeout.
    #[error("the server did not answer within the timeout")]
    TimedOut,
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// Why a request by the server's owner (`Server::request` and friends) got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerRequestError {
    /// The core refused it: invalid subject or headers, payload too large, no client by that
    /// name, too many requests outstanding, or the server is draining or shutting down.
    #[error(transparent)]
    Refused(#[from] kcpq_core::server::ServerPublishError),
    /// Nobody subscribes to the subject (or the named client does not).
    #[error("no responders: nobody subscribes to the request subject")]
    NoResponders,
    /// No reply within the timeout.
    #[error("request timed out")]
    TimedOut,
    /// The server stopped before a reply came.
    #[error("the server has stopped")]
    Stopped,
}

impl From<LinkError> for ServerPublishError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => ServerPublishError::Stopped,
            LinkError::TimedOut(_) => ServerPublishError::TimedOut,
        }
    }
}

impl From<LinkError> for ServerSubscribeError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => ServerSubscribeError::Stopped,
            LinkError::TimedOut(_) => ServerSubscribeError::TimedOut,
        }
    }
}

impl From<LinkError> for ServerRequestError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => ServerRequestError::Stopped,
            LinkError::TimedOut(_) => ServerRequestError::TimedOut,
        }
    }
}
