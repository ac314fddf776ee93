//! The inbound queue of one subscription: filled by the driver task (through the shared
//! drivers, which hold its [`Inbox`]), emptied by the [`Subscription`](crate::Subscription)
//! stream. The bound, the overflow policy and the end-of-stream rule are the core's; this module
//! only adds the task waker that connects it to the stream.

use std::sync::Arc;
use std::task::{Context, Poll};

use kcpq_core::adapter::{Inbox, Next, TaskWaker};

use crate::message::Message;

/// One subscription's queue, shared by the driver and the stream.
#[derive(Debug, Clone)]
pub(crate) struct SubQueue(pub(crate) Arc<Inbox<Message, TaskWaker>>);

impl SubQueue {
    /// Ends the stream once what is queued has been read.
    pub(crate) fn close(&self) {
        self.0.close();
    }

    /// The next message, `Ready(None)` once closed and empty.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<Message>> {
        let mut state = self.0.lock();
        match state.take_next() {
            Next::Item(message) => Poll::Ready(Some(message)),
            Next::Ended => Poll::Ready(None),
            Next::Empty => {
                self.0.waker().register(cx.waker());
                Poll::Pending
            }
        }
    }

    /// Messages waiting and messages dropped so far.
    pub(crate) fn counts(&self) -> (usize, u64) {
        (self.0.pending(), self.0.dropped())
    }
}
