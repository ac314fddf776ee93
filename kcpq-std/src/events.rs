//! Blocking streams over the core's inbox ([`Inbox`]): each subscription's messages, and the
//! bounded event streams of clients and servers; and the errors of receiving from them.

use std::sync::{Arc, Condvar, PoisonError};
use std::time::{Duration, Instant};

use kcpq_core::adapter::{Event, Inbox, Next, ServerEvent};
use kcpq_core::queue::{OverflowPolicy, QueueLimits, Weighed};

/// Why `recv` returned nothing: the stream ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("closed: the client, server or subscription has ended and nothing more will arrive")]
pub struct RecvError;

/// Why `recv_timeout` returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecvTimeoutError {
    /// Nothing arrived within the timeout.
    #[error("nothing arrived within the timeout")]
    Timeout,
    /// The stream ended.
    #[error("closed: the client, server or subscription has ended and nothing more will arrive")]
    Closed,
}

/// Why `try_recv` returned nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TryRecvError {
    /// Nothing is waiting now.
    #[error("nothing is waiting")]
    Empty,
    /// The stream ended.
    #[error("closed: the client, server or subscription has ended and nothing more will arrive")]
    Closed,
}

/// Waits for the next item of `inbox` for at most `timeout` (`None`: for ever).
pub(crate) fn recv<T: Weighed>(
    inbox: &Inbox<T, Condvar>,
    timeout: Option<Duration>,
) -> Result<T, RecvTimeoutError> {
    // No deadline, or one too far to count: wait for ever.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let mut state = inbox.lock();
    loop {
        match state.take_next() {
            Next::Item(item) => return Ok(item),
            Next::Ended => return Err(RecvTimeoutError::Closed),
            Next::Empty => {}
        }
        let ready = inbox.waker();
        state = match deadline.map(|d| d.saturating_duration_since(Instant::now())) {
            None => ready.wait(state).unwrap_or_else(PoisonError::into_inner),
            Some(left) if left.is_zero() => return Err(RecvTimeoutError::Timeout),
            Some(left) => {
                let waited = ready.wait_timeout(state, left);
                waited.unwrap_or_else(PoisonError::into_inner).0
            }
        };
    }
}

/// The next item of `inbox` if one is waiting.
pub(crate) fn try_recv<T: Weighed>(inbox: &Inbox<T, Condvar>) -> Result<T, TryRecvError> {
    match inbox.try_next() {
        Next::Item(item) => Ok(item),
        Next::Ended => Err(TryRecvError::Closed),
        Next::Empty => Err(TryRecvError::Empty),
    }
}

/// An event in its stream, bounded in count only.
#[derive(Debug)]
struct Counted<T>(T);

impl<T> Weighed for Counted<T> {
    fn weight(&self) -> usize {
        0
    }
}

/// A bounded stream of events. When the application does not keep up and the bound is reached,
/// new events are dropped and counted ([`Events::dropped`]), so an application that never reads
/// events costs bounded memory. Cloning gives another handle to the same stream (each event goes
/// to one reader).
///
/// `Events` alone is the client's stream (of [`Event`]s, as kcpq-async's `Events`), and
/// [`ServerEvents`] the server's.
#[derive(Debug)]
pub struct Events<T = Event>(Arc<Inbox<Counted<T>, Condvar>>);

/// The server's stream of events, named as kcpq-async names it.
pub type ServerEvents = Events<ServerEvent>;

impl<T> Clone for Events<T> {
    fn clone(&self) -> Self {
        Events(Arc::clone(&self.0))
    }
}

/// The I/O thread's side of an event stream (shared by a server's workers: an `Arc` each);
/// the stream ends when it is dropped. A full stream drops and counts new events.
#[derive(Debug)]
pub(crate) struct EventSink<T>(Arc<Inbox<Counted<T>, Condvar>>);

impl<T> EventSink<T> {
    /// Hands `event` to the application, or counts it if the stream is full.
    pub(crate) fn push(&self, event: T) {
        self.0.push(Counted(event));
    }
}

/// A stream holding at most `capacity` events.
pub(crate) fn events<T>(capacity: usize) -> (Arc<EventSink<T>>, Events<T>) {
    let limits = QueueLimits {
        max_messages: capacity.max(1),
        max_bytes: usize::MAX,
    };
    let inbox = Arc::new(Inbox::new(limits, OverflowPolicy::DropNewest));
    (Arc::new(EventSink(Arc::clone(&inbox))), Events(inbox))
}

impl<T> Drop for EventSink<T> {
    fn drop(&mut self) {
        self.0.close();
    }
}

impl<T> Events<T> {
    /// Waits for the next event; `Err` once the I/O thread has ended and all events are taken.
    pub fn recv(&self) -> Result<T, RecvError> {
        recv(&self.0, None).map(|c| c.0).map_err(|_| RecvError)
    }

    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        recv(&self.0, Some(timeout)).map(|c| c.0)
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        try_recv(&self.0).map(|c| c.0)
    }

    /// Events dropped because the stream was full.
    pub fn dropped(&self) -> u64 {
        self.0.dropped()
    }
}

impl<T> Iterator for Events<T> {
    type Item = T;

    /// Blocks for the next event; ends when the I/O thread has ended.
    fn next(&mut self) -> Option<T> {
        self.recv().ok()
    }
}
