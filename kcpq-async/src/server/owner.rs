//! What the embedding application does on the broker itself: publish, request and subscribe
//! without a client connection, and the errors of each.

use std::pin::Pin;
use std::task::{Context, Poll};

use async_channel::Sender;
use futures_lite::Stream;

use super::Command;
use crate::inbox::SubQueue;
use crate::message::Message;

pub use kcpq_core::adapter::{ServerPublishError, ServerRequestError, ServerSubscribeError};

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
        self.queue.poll_pop(cx)
    }
}

impl Drop for ServerSubscription {
    fn drop(&mut self) {
        let _ = self.commands.try_send(Command::Unsubscribe {
            sid: self.sid,
            after: None,
        });
    }
}
