//! Handles to I/O thread: a bounded command channel that wakes the thread, with back-pressure
//! that has a deadline, and one-shot replies: the adapter's [`Channels`].
//!
//! `std::sync::mpsc::SyncSender` has no stable `send_timeout`, so a full channel is waited out
//! on a condition variable the I/O thread signals each time it has taken commands (a generation
//! counter avoids missing a signal that comes between the failed `try_send` and the wait).

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kcpq_core::adapter::{Channels, Taken, WaitError};

use crate::events::EventSink;
use crate::io::Waker;

/// This adapter's channels: `sync_channel`s, condition variables and `Vec<u8>` payloads.
#[derive(Debug)]
pub(crate) struct Std;

impl Channels for Std {
    type Reply<T: Send + 'static> = SyncSender<T>;
    type Events<T: Send + 'static> = Arc<EventSink<T>>;
    type Payload = Vec<u8>;
    type Wake = Condvar;

    fn answer<T: Send + 'static>(reply: SyncSender<T>, value: T) -> bool {
        reply.try_send(value).is_ok()
    }

    fn emit<T: Send + 'static>(events: &Arc<EventSink<T>>, event: T) {
        events.push(event);
    }
}

/// What a link's handles and its I/O thread signal each other: the waker that interrupts the
/// thread's sleep, and the condition variable it signals whenever it has taken commands off
/// the channel.
#[derive(Debug)]
pub(crate) struct Signals {
    /// The I/O thread re-arms it before taking commands (a command queued after that sends a
    /// fresh wake-up), and wakes itself when it stopped taking commands before the end.
    pub(crate) waker: Arc<Waker>,
    generation: Mutex<u64>,
    taken: Condvar,
}

impl Signals {
    /// How many times commands were taken so far.
    fn generation(&self) -> MutexGuard<'_, u64> {
        self.generation
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// The sending side, cloned into every handle.
pub(crate) struct Link<C> {
    tx: SyncSender<C>,
    signals: Arc<Signals>,
}

impl<C> std::fmt::Debug for Link<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Link").finish_non_exhaustive()
    }
}

impl<C> Clone for Link<C> {
    fn clone(&self) -> Self {
        Link {
            tx: self.tx.clone(),
            signals: Arc::clone(&self.signals),
        }
    }
}

/// The receiving side, owned by the I/O thread.
pub(crate) struct Commands<C> {
    rx: Receiver<C>,
    pub(crate) signals: Arc<Signals>,
}

/// A bounded channel of `capacity` commands to the I/O thread woken by `waker`.
pub(crate) fn link<C>(capacity: usize, waker: Arc<Waker>) -> (Link<C>, Commands<C>) {
    let (tx, rx) = mpsc::sync_channel(capacity.max(1));
    let signals = Arc::new(Signals {
        waker,
        generation: Mutex::new(0),
        taken: Condvar::new(),
    });
    let link = Link {
        tx,
        signals: Arc::clone(&signals),
    };
    (link, Commands { rx, signals })
}

impl<C> Link<C> {
    /// Queues `command` and wakes the I/O thread, waiting for room until `deadline`.
    pub(crate) fn send(&self, mut command: C, deadline: Deadline) -> Result<(), WaitError> {
        loop {
            let seen = *self.signals.generation();
            match self.tx.try_send(command) {
                Ok(()) => {
                    self.signals.waker.wake();
                    return Ok(());
                }
                Err(TrySendError::Disconnected(_)) => return Err(WaitError::Closed),
                Err(TrySendError::Full(back)) => command = back,
            }
            self.signals.waker.wake();
            let left = deadline.left();
            if left.is_zero() {
                return Err(WaitError::TimedOut(deadline.timeout));
            }
            let unchanged = |generation: &mut u64| *generation == seen;
            let waited =
                (self.signals.taken).wait_timeout_while(self.signals.generation(), left, unchanged);
            drop(waited.unwrap_or_else(PoisonError::into_inner));
        }
    }

    /// Sends the command `make` builds around a reply channel, waiting for room until
    /// `deadline`, then for the answer until `deadline + margin`.
    pub(crate) fn call<T>(
        &self,
        make: impl FnOnce(SyncSender<T>) -> C,
        deadline: Deadline,
        margin: Duration,
    ) -> Result<T, WaitError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.send(make(tx), deadline)?;
        await_reply(&rx, deadline.later(margin))
    }

    /// [`Link::call`] with no margin: the command's room and its answer within `timeout`.
    pub(crate) fn ask<T>(
        &self,
        make: impl FnOnce(SyncSender<T>) -> C,
        timeout: Duration,
    ) -> Result<T, WaitError> {
        self.call(make, deadline_after(timeout), Duration::ZERO)
    }

    /// Queues `command` without waiting: for best-effort messages from `Drop`. `Closed` when
    /// the I/O thread has stopped or the queue is full.
    pub(crate) fn try_send(&self, command: C) -> Result<(), WaitError> {
        self.tx.try_send(command).map_err(|_| WaitError::Closed)?;
        self.signals.waker.wake();
        Ok(())
    }
}

impl<C> Commands<C> {
    /// The next command, if any.
    pub(crate) fn take(&self) -> Taken<C> {
        match self.rx.try_recv() {
            Ok(c) => Taken::Command(c),
            Err(TryRecvError::Empty) => Taken::Empty,
            Err(TryRecvError::Disconnected) => Taken::Disconnected,
        }
    }

    /// Tells handles waiting for room that commands were taken.
    pub(crate) fn made_room(&self) {
        let mut generation = self.signals.generation();
        *generation = generation.wrapping_add(1);
        self.signals.taken.notify_all();
    }
}

/// Waits for an answer until `deadline`.
pub(crate) fn await_reply<T>(rx: &Receiver<T>, deadline: Deadline) -> Result<T, WaitError> {
    match rx.recv_timeout(deadline.left()) {
        Ok(v) => Ok(v),
        Err(RecvTimeoutError::Timeout) => Err(WaitError::TimedOut(deadline.timeout)),
        Err(RecvTimeoutError::Disconnected) => Err(WaitError::Closed),
    }
}

/// When a wait ends, and the timeout it reports when it does.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline {
    /// `now + timeout` when it was made (or later: a margin for a busy I/O thread).
    pub(crate) at: Instant,
    /// The timeout the caller asked for.
    pub(crate) timeout: Duration,
}

impl Deadline {
    /// What is left of it now.
    pub(crate) fn left(&self) -> Duration {
        self.at.saturating_duration_since(Instant::now())
    }

    /// A margin on top: the wait ends later, and reports the same timeout.
    pub(crate) fn later(self, margin: Duration) -> Deadline {
        let at = self.at.checked_add(margin).unwrap_or(self.at);
        Deadline { at, ..self }
    }
}

/// `now + timeout`, saturating far in the future instead of overflowing.
pub(crate) fn deadline_after(timeout: Duration) -> Deadline {
    let now = Instant::now();
    let at = now
        .checked_add(timeout)
        .unwrap_or_else(|| now + Duration::from_secs(86_400 * 365));
    Deadline { at, timeout }
}
