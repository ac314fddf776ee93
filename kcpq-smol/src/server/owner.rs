//! What the embedding application does on the broker itself: publish, request and subscribe
//! without a client connection, and the errors of each.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use async_channel::Sender;
use futures_lite::Stream;
use kcpq_core::server::{
    ServerPublishError as CorePublishError, ServerSubscribeError as CoreSubscribeError,
};

use super::driver::Command;
use crate::inbox::SubQueue;
use crate::message::Message;

/// Why a publish from the server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerPublishError {
    /// The core refused it (invalid subject, payload too large, unknown client, stopping).
    #[error(transparent)]
    Refused(#[from] CorePublishError),
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// Why a request from the server got no reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerRequestError {
    /// The core refused to send it.
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
    /// The responder went away before replying.
    #[error("the responder disconnected before replying")]
    Disconnected,
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// Why a subscription of the server failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerSubscribeError {
    /// The core refused it (invalid filter, index full).
    #[error(transparent)]
    Refused(#[from] CoreSubscribeError),
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// A subscription of the embedding application on its own server: a [`Stream`] of messages.
/// Dropping it unsubscribes; the stream ends when the server stops.
#[derive(Debug)]
pub struct ServerSubscription {
    sid: u32,
    queue: SubQueue,
    commands: Sender<Command>,
}

impl ServerSubscription {
    pub(crate) fn new(sid: u32, queue: SubQueue, commands: Sender<Command>) -> Self {
        ServerSubscription {
            sid,
            queue,
            commands,
        }
    }

    /// Messages dropped because this subscription's queue was full.
    pub fn dropped(&self) -> u64 {
        self.queue.counts().1
    }
}

impl Stream for ServerSubscription {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.queue
            .poll_pop(cx)
            .map(|item| item.map(Message::from_item))
    }
}

impl Drop for ServerSubscription {
    fn drop(&mut self) {
        let _ = self
            .commands
            .try_send(Command::Unsubscribe { sid: self.sid });
    }
}
