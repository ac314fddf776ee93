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
    /// Messages were queued by [`Inbox::push_deferred`] since the reader was last woken.
    wake_due: bool,
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
                wake_due: false,
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

    /// Queues a message under the bound and policy without waking a reader yet: the driver
    /// wakes it once with [`Inbox::wake_due`] after the run of events that filled it, so a
    /// reader that keeps up is not woken (a futex and a context switch) per message. `None`
    /// (the message discarded) once the inbox is closed.
    pub fn push_deferred(&self, item: T) -> Option<PushOutcome> {
        let mut state = self.lock();
        if state.closed {
            return None;
        }
        state.wake_due = true;
        Some(state.queue.push(item))
    }

    /// Wakes a reader if [`Inbox::push_deferred`] queued messages since the last wake.
    pub fn wake_due(&self) {
        let mut state = self.lock();
        if std::mem::take(&mut state.wake_due) {
            self.waker.wake_one();
        }
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

    /// Counts the wake-ups it is asked for.
    #[derive(Debug, Default)]
    struct Counted(std::sync::atomic::AtomicUsize);

    impl Wake for Counted {
        fn wake_one(&self) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        fn wake_all(&self) {
            self.wake_one();
        }
    }

    #[test]
    fn deferred_pushes_wake_the_reader_once_per_run() {
        let inbox: Inbox<M, Counted> =
            Inbox::new(QueueLimits::default(), OverflowPolicy::default());
        let wakes = || inbox.waker().0.load(std::sync::atomic::Ordering::Relaxed);
        inbox.wake_due();
        assert_eq!(wakes(), 0, "nothing queued, nobody to wake");
        for i in 0..3 {
            assert!(inbox.push_deferred(M(i)).is_some());
        }
        assert_eq!((wakes(), inbox.pending()), (0, 3), "queued, not yet woken");
        inbox.wake_due();
        inbox.wake_due();
        assert_eq!(wakes(), 1, "one wake for the run");
        inbox.close();
        assert!(
            inbox.push_deferred(M(9)).is_none(),
            "a closed inbox takes nothing"
        );
    }
}
