//! The inbound queue of one subscription: filled by the driver task, emptied by the
//! [`Subscription`](crate::Subscription) stream. The bound and the overflow policy are the
//! core's [`BoundedQueue`]; this module only adds the waker that connects it to the stream.

use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use kcpq_core::client::Message as CoreMessage;
use kcpq_core::queue::{BoundedQueue, OverflowPolicy, PushOutcome, QueueLimits, Weighed};

/// A received message and when it was received.
#[derive(Debug)]
pub(crate) struct Item {
    pub(crate) message: CoreMessage,
    pub(crate) received: std::time::Instant,
}

impl Weighed for Item {
    fn weight(&self) -> usize {
        self.message.weight()
    }
}

#[derive(Debug)]
struct State {
    queue: BoundedQueue<Item>,
    closed: bool,
    waker: Option<Waker>,
}

/// One subscription's queue, shared by the driver and the stream.
#[derive(Debug, Clone)]
pub(crate) struct SubQueue(Arc<Mutex<State>>);

impl SubQueue {
    pub(crate) fn new(limits: QueueLimits, policy: OverflowPolicy) -> SubQueue {
        SubQueue(Arc::new(Mutex::new(State {
            queue: BoundedQueue::new(limits, policy),
            closed: false,
            waker: None,
        })))
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock leaves plain data behind; keep using it.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds a message under the bound and policy, and wakes the reader.
    pub(crate) fn push(&self, item: Item) -> PushOutcome {
        let mut state = self.lock();
        let outcome = state.queue.push(item);
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
        outcome
    }

    /// Ends the stream once what is queued has been read.
    pub(crate) fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        if let Some(waker) = state.waker.take() {
            waker.wake();
        }
    }

    /// The next message, `Ready(None)` once closed and empty.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>) -> Poll<Option<Item>> {
        let mut state = self.lock();
        if let Some(item) = state.queue.pop() {
            return Poll::Ready(Some(item));
        }
        if state.closed {
            return Poll::Ready(None);
        }
        state.waker = Some(cx.waker().clone());
        Poll::Pending
    }

    /// Messages waiting and messages dropped so far.
    pub(crate) fn counts(&self) -> (usize, u64) {
        let state = self.lock();
        (state.queue.len(), state.queue.dropped())
    }
}
