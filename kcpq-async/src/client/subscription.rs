//! A subscription as a stream of messages, and its callback form.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_channel::Sender;
use futures_lite::{Stream, StreamExt};
use kcpq_core::adapter::SlowCallbacks;
use kcpq_core::client::Sid;

use super::{Command, UnsubscribeError};
use crate::inbox::SubQueue;
use crate::message::Message;
use crate::runtime::Runtime;

/// A confirmed subscription: a [`Stream`] of the messages it receives, in order.
///
/// The stream ends after [`Subscription::unsubscribe`] or when the client closes. Dropping it
/// unsubscribes.
#[derive(Debug)]
pub struct Subscription {
    sid: Sid,
    filter: String,
    queue: SubQueue,
    commands: Sender<Command>,
    active: bool,
}

impl Subscription {
    pub(crate) fn new(
        sid: Sid,
        filter: String,
        queue: SubQueue,
        commands: Sender<Command>,
    ) -> Subscription {
        Subscription {
            sid,
            filter,
            queue,
            commands,
            active: true,
        }
    }

    /// The subscription id (as events such as [`Event::SlowConsumer`](crate::Event) name it).
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The subject filter.
    pub fn subject(&self) -> &str {
        &self.filter
    }

    /// Messages received and not yet taken from the stream.
    pub fn pending(&self) -> usize {
        self.queue.counts().0
    }

    /// Messages dropped because the subscription's queue was full.
    pub fn dropped(&self) -> u64 {
        self.queue.counts().1
    }

    /// Ends the subscription once it has received `count` messages in total since it started
    /// (at least one), as NATS's auto-unsubscribe: at once, keeping what is queued, if it already
    /// has; otherwise the server is told how many are left and the stream ends after the last.
    pub async fn unsubscribe_after(&self, count: u64) -> Result<(), UnsubscribeError> {
        self.commands
            .send(Command::Unsubscribe {
                sid: self.sid,
                after: Some(count.max(1)),
            })
            .await
            .map_err(|_| UnsubscribeError::Closed)
    }

    /// Stops the subscription. Messages already queued are discarded with it.
    pub async fn unsubscribe(mut self) -> Result<(), UnsubscribeError> {
        self.active = false;
        self.queue.close();
        self.commands
            .send(Command::Unsubscribe {
                sid: self.sid,
                after: None,
            })
            .await
            .map_err(|_| UnsubscribeError::Closed)
    }
}

impl Stream for Subscription {
    type Item = Message;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        self.queue.poll_pop(cx)
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.active
            && self
                .commands
                .try_send(Command::Unsubscribe {
                    sid: self.sid,
                    after: None,
                })
                .is_err()
        {
            log::debug!(
                "subscription {} dropped while the command queue was full or closed; it ends with the client",
                self.sid
            );
        }
    }
}

/// A subscription whose messages are handed to a callback on a task of the client's spawner.
/// Dropping it (or [`CallbackSubscription::unsubscribe`]) stops the task and unsubscribes.
#[derive(Debug)]
pub struct CallbackSubscription<R: Runtime> {
    sid: Sid,
    filter: String,
    /// The subscription's queue, for its counts (the task reads it).
    queue: SubQueue,
    commands: Sender<Command>,
    slow: Arc<SlowCallbacks>,
    task: R::Task,
}

impl<R: Runtime> CallbackSubscription<R> {
    pub(crate) fn spawn<F>(
        spawner: &R::Spawner,
        mut subscription: Subscription,
        slow_callback: Duration,
        mut callback: F,
    ) -> CallbackSubscription<R>
    where
        F: FnMut(Message) + Send + 'static,
    {
        let sid = subscription.sid;
        let (filter, queue) = (subscription.filter.clone(), subscription.queue.clone());
        let commands = subscription.commands.clone();
        let slow = Arc::new(SlowCallbacks::new(sid, slow_callback));
        let record = Arc::clone(&slow);
        let task = R::spawn(spawner, async move {
            while let Some(message) = subscription.next().await {
                if let Some(event) = record.time(|| callback(message)) {
                    let _ = subscription
                        .commands
                        .try_send(Command::Emit(Box::new(event)));
                }
            }
        });
        CallbackSubscription {
            sid,
            filter,
            queue,
            commands,
            slow,
            task,
        }
    }

    /// Calls of the callback that ran longer than the client's `slow_callback` threshold
    /// (each also reported as [`Event::SlowCallback`](crate::Event::SlowCallback)).
    pub fn slow_callbacks(&self) -> u64 {
        self.slow.count()
    }

    /// The subscription id.
    pub fn sid(&self) -> Sid {
        self.sid
    }

    /// The subject filter.
    pub fn subject(&self) -> &str {
        &self.filter
    }

    /// Messages received and not yet handed to the callback.
    pub fn pending(&self) -> usize {
        self.queue.counts().0
    }

    /// Messages dropped because the subscription's queue was full.
    pub fn dropped(&self) -> u64 {
        self.queue.counts().1
    }

    /// Ends the subscription once it has received `count` messages in total since it started,
    /// as [`Subscription::unsubscribe_after`]; the callback gets every one of them.
    pub async fn unsubscribe_after(&self, count: u64) -> Result<(), UnsubscribeError> {
        let command = Command::Unsubscribe {
            sid: self.sid,
            after: Some(count.max(1)),
        };
        (self.commands.send(command).await).map_err(|_| UnsubscribeError::Closed)
    }

    /// Stops the callback task and unsubscribes (the subscription's handle, dropped with the
    /// task, tells the driver); messages not yet handed to the callback are discarded.
    pub async fn unsubscribe(self) -> Result<(), UnsubscribeError> {
        R::cancel(self.task).await;
        match self.commands.is_closed() {
            true => Err(UnsubscribeError::Closed),
            false => Ok(()),
        }
    }
}
