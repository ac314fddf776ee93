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

pub use kcpq_core::adapter::{ServerPublishError, ServerRequestError, ServerSubscribeError};

impl From<LinkError> for ServerPublishError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => ServerPublishError::Stopped,
            LinkError::TimedOut(t) => ServerPublishError::TimedOut(t),
        }
    }
}

impl From<LinkError> for ServerSubscribeError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => ServerSubscribeError::Stopped,
            LinkError::TimedOut(t) => ServerSubscribeError::TimedOut(t),
        }
    }
}

impl From<LinkError> for ServerRequestError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => ServerRequestError::Stopped,
            LinkError::TimedOut(t) => ServerRequestError::TimedOut(t),
        }
    }
}
