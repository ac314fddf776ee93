//! The errors of each client operation: kcpq-core's, the same in every adapter, and how the
//! I/O thread's link failures map onto them.

use crate::clock::RandomnessError;
use crate::link::LinkError;

pub use kcpq_core::adapter::{
    CloseError, ClosedError, ConnectError, DrainError, FlushError, PublishError, RequestError,
    SubscribeError, UnsubscribeError,
};

impl From<RandomnessError> for ConnectError {
    fn from(e: RandomnessError) -> Self {
        ConnectError::Io(std::io::Error::other(e))
    }
}

impl From<LinkError> for PublishError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => PublishError::Closed,
            LinkError::TimedOut(t) => PublishError::TimedOut(t),
        }
    }
}

impl From<LinkError> for SubscribeError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => SubscribeError::Closed,
            LinkError::TimedOut(t) => SubscribeError::TimedOut(t),
        }
    }
}

impl From<LinkError> for UnsubscribeError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => UnsubscribeError::Closed,
            LinkError::TimedOut(t) => UnsubscribeError::TimedOut(t),
        }
    }
}

impl From<LinkError> for RequestError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => RequestError::Closed,
            LinkError::TimedOut(t) => RequestError::TimedOut(t),
        }
    }
}

impl From<LinkError> for FlushError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => FlushError::Closed,
            LinkError::TimedOut(t) => FlushError::TimedOut(t),
        }
    }
}
