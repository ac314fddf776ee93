//! The errors of an embedded server's owner API (publish, request and subscribe on the broker
//! itself): one set, the same variants and messages in every adapter.

use std::time::Duration;

use crate::server;

/// Why a publish from the server's owner failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerPublishError {
    /// The core refused it (invalid subject, payload too large, unknown client, stopping).
    #[error(transparent)]
    Refused(#[from] server::ServerPublishError),
    /// The server's driver did not take it within the timeout.
    #[error("the server did not take the message within {0:?}")]
    TimedOut(Duration),
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// Why a request from the server's owner got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerRequestError {
    /// The core refused to send it.
    #[error(transparent)]
    Refused(#[from] server::ServerPublishError),
    /// Nobody subscribes to the subject.
    #[error("no responders: nobody subscribes to the request subject")]
    NoResponders,
    /// No reply within the timeout.
    #[error("no reply within {0:?}")]
    TimedOut(Duration),
    /// The responder went away before replying.
    #[error("the responder disconnected before replying")]
    Disconnected,
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// Why a subscription of the server's owner failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerSubscribeError {
    /// The core refused it (invalid filter, index full).
    #[error(transparent)]
    Refused(#[from] server::ServerSubscribeError),
    /// The server's driver did not answer within the timeout.
    #[error("the server did not answer within {0:?}")]
    TimedOut(Duration),
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

impl ServerRequestError {
    /// The error for a request that ended as `failure` after waiting `timeout`.
    pub fn from_failure(failure: crate::RequestFailure, timeout: Duration) -> Self {
        match failure {
            crate::RequestFailure::NoResponders => ServerRequestError::NoResponders,
            crate::RequestFailure::TimedOut => ServerRequestError::TimedOut(timeout),
            _ => ServerRequestError::Disconnected,
        }
    }
}
