//! Why a handle's call got no answer from its driver (task or thread), and what that means for
//! each operation's error: the mapping every adapter shares.

use std::time::Duration;

use super::{
    CloseError, DrainError, FlushError, PublishError, RequestError, ServerPublishError,
    ServerRequestError, ServerSubscribeError, SubscribeError, UnsubscribeError,
};

/// Why a command sent to the driver got no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The driver has ended (the client is closed, the server has stopped).
    #[error("the driver has ended")]
    Closed,
    /// No room in its command queue, or no answer, within the caller's timeout.
    #[error("no answer within {0:?}")]
    TimedOut(Duration),
}

/// `From<WaitError>` for an error with a variant for an ended driver and a `TimedOut(Duration)`.
macro_rules! from_wait {
    ($($error:ident: $closed:ident),* $(,)?) => {$(
        impl From<WaitError> for $error {
            fn from(e: WaitError) -> Self {
                match e {
                    WaitError::Closed => $error::$closed,
                    WaitError::TimedOut(t) => $error::TimedOut(t),
                }
            }
        }
    )*};
}

from_wait!(
    PublishError: Closed,
    SubscribeError: Closed,
    UnsubscribeError: Closed,
    RequestError: Closed,
    FlushError: Closed,
    DrainError: Closed,
    ServerPublishError: Stopped,
    ServerSubscribeError: Stopped,
    ServerRequestError: Stopped,
);

impl CloseError {
    /// What a close's wait for its driver means: closed, also when the driver had already
    /// ended; or [`CloseError::TimedOut`], the driver going on closing in the background.
    pub fn from_wait(answer: Result<(), WaitError>) -> Result<(), CloseError> {
        match answer {
            Ok(()) | Err(WaitError::Closed) => Ok(()),
            Err(WaitError::TimedOut(t)) => Err(CloseError::TimedOut(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ended_driver_is_closed_for_a_client_and_stopped_for_a_server() {
        let t = Duration::from_secs(2);
        assert_eq!(PublishError::from(WaitError::Closed), PublishError::Closed);
        assert_eq!(
            ServerRequestError::from(WaitError::Closed),
            ServerRequestError::Stopped
        );
        assert_eq!(
            FlushError::from(WaitError::TimedOut(t)),
            FlushError::TimedOut(t)
        );
        assert_eq!(CloseError::from_wait(Err(WaitError::Closed)), Ok(()));
        let late = CloseError::from_wait(Err(WaitError::TimedOut(t)));
        assert_eq!(late, Err(CloseError::TimedOut(t)));
    }
}
