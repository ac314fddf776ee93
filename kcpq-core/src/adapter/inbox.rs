//! The inbox of one subscription: the bounded queue of its received messages (bound and
//! overflow policy: [`BoundedQueue`]), filled by the adapter's driver and emptied by the
//! application, and its end-of-stream rule: once closed (the subscription ended, the client
//! closed, the handle went away) it takes no more messages, and readers get what is queued,
//! then the end. Generic over how a waiting reader is woken ([`Wake`]): a task's waker
//! ([`TaskWaker`]) or a condition variable.

use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::Waker;

use crate::queue::{BoundedQueue, OverflowPolicy, PushOutcome, QueueLimits, Weighed};

/// How an inbox wakes its waiting readers. Always called with the inbox locked, so a reader
/// that registers (or waits) under the same lock misses no wake-up.
pub trait Wake: Default {
    /// A message arrived: wake one reader.
    fn wake_one(&self);
    /// The inbox closed: wake every reader.
    fn wake_all(&self);
}

impl Wake for Condvar {
    fn wake_one(&self) {
        self.notify_one();
    }

    fn wake_all(&self) {
        self.notify_all();
    }
}

/// The waker of the one task that reads an inbox (an async stream).
#[derive(Debug, Default)]
pub struct TaskWaker(Mutex<Option<Waker>>);

impl TaskWaker {
    /// Wakes `waker` on the next message or the end; call with the inbox locked.
    pub fn register(&self, waker: &Waker) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(waker.clone());
    }
}

impl Wake for TaskWaker {
    fn wake_one(&self) {
        let waker = self.0.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    fn wake_all(&self) {
        self.wake_one();
    }
}

/// What a reader finds in an inbox.
#[derive(Debug, PartialEq, Eq)]
pub enum Next<T> {
    /// The oldest queued message.
    Item(T),
    /// Nothing queued yet: wait.
    Empty,
    /// Closed and empty: the stream has ended.
    Ended,
}

/// The locked contents of an inbox.
#[derive(Debug)]
pub struct InboxState<T> {
    queue: BoundedQueue<T>,
    closed: bool,
}

impl<T: Weighed> InboxState<T> {
    /// Takes the next message, or says why there is none.
    pub fn take_next(&mut self) -> Next<T> {
        match self.queue.pop() {
            Some(item) => Next::Item(item),
            None if self.closed => Next::Ended,
            None => Next::Empty,
        }
    }
}

/// One subscription's inbox, shared by the driver that fills it and the handle that reads it.
#[derive(Debug)]
pub struct Inbox<T, W> {
    state: Mutex<InboxState<T>>,
    waker: W,
}

impl<T: Weighed, W: Wake> Inbox<T, W> {
    /// An open, empty inbox with this bound and overflow policy.
    pub fn new(limits: QueueLimits, policy: OverflowPolicy) -> Self {
        Inbox {
            state: Mutex::new(InboxState {
                queue: BoundedQueue::new(limits, policy),
                closed: false,
            }),
            waker: W::default(),
        }
    }

    /// Locks the contents (a panic while holding the lock leaves plain data: keep using it).
    pub fn lock(&self) -> MutexGuard<'_, InboxState<T>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How readers are woken: for the adapter to register or wait with.
    pub fn waker(&self) -> &W {
        &self.waker
    }

    /// Queues a message under the bound and policy and wakes a reader; `None` (the message
    /// discarded) once the inbox is closed.
    pub fn push(&self, item: T) -> Option<PushOutcome> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        let outcome = state.queue.push(item);
        self.waker.wake_one();
        Some(outcome)
    }

    /// Ends the stream: readers get what is queued, then the end.
    pub fn close(&self) {
        self.lock().closed = true;
        self.waker.wake_all();
    }

    /// Whether the inbox is closed.
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Takes the next message without waiting.
    pub fn try_next(&self) -> Next<T> {
        self.lock().take_next()
    }

    /// Messages waiting.
    pub fn pending(&self) -> usize {
        self.lock().queue.len()
    }

    /// Messages the overflow policy dropped so far.
    pub fn dropped(&self) -> u64 {
        self.lock().queue.dropped()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq, Eq)]
    struct M(u8);

    impl Weighed for M {
        fn weight(&self) -> usize {
            1
        }
    }

    #[test]
    fn bounded_then_ends_after_what_is_queued() {
        let limits = QueueLimits {
            max_messages: 1,
            max_bytes: 10,
        };
        let inbox: Inbox<M, TaskWaker> = Inbox::new(limits, OverflowPolicy::DropNewest);
        assert_eq!(inbox.try_next(), Next::Empty);
        assert!(inbox.push(M(1)).is_some());
        assert!(inbox.push(M(2)).is_some_and(PushOutcome::first_of_burst));
        assert_eq!((inbox.pending(), inbox.dropped()), (1, 1));
        inbox.close();
        assert!(inbox.push(M(3)).is_none());
        assert_eq!(inbox.try_next(), Next::Item(M(1)));
        assert_eq!(inbox.try_next(), Next::Ended);
    }
}
