//! The errors of each server operation besides the owner's (those are kcpq-core's).

use kcpq_core::adapter::WaitError;
use kcpq_core::server::{ServerConfigError, WorkerGroupError};

/// Why `Server::bind` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The address did not resolve, could not be bound, an I/O thread could not start, or the
    /// OS random number generator failed.
    #[error("cannot bind the server socket or start its thread: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ServerConfigError),
    /// The worker count is out of range.
    #[error(transparent)]
    Workers(#[from] WorkerGroupError),
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

impl From<WaitError> for QueryError {
    fn from(e: WaitError) -> Self {
        match e {
            WaitError::TimedOut(_) => QueryError::TimedOut,
            _ => QueryError::Stopped,
        }
    }
}
