//! Bounded streams of events from an I/O thread, and the errors of receiving from a stream.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

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

/// A bounded stream of events. When the application does not keep up and the bound is reached,
/// new events are dropped and counted ([`Events::dropped`]), so an application that never reads
/// events costs bounded memory. Cloning gives another handle to the same stream (each event goes
/// to one reader).
#[derive(Debug)]
pub struct Events<T> {
    rx: Arc<Mutex<Receiver<T>>>,
    dropped: Arc<AtomicU64>,
}

impl<T> Clone for Events<T> {
    fn clone(&self) -> Self {
        Events {
            rx: Arc::clone(&self.rx),
            dropped: Arc::clone(&self.dropped),
        }
    }
}

/// The I/O thread's side of an event stream.
#[derive(Debug)]
pub(crate) struct EventSink<T> {
    tx: SyncSender<T>,
    dropped: Arc<AtomicU64>,
}

/// A stream holding at most `capacity` events.
pub(crate) fn events<T>(capacity: usize) -> (EventSink<T>, Events<T>) {
    let (tx, rx) = mpsc::sync_channel(capacity.max(1));
    let dropped = Arc::new(AtomicU64::new(0));
    (
        EventSink {
            tx,
            dropped: Arc::clone(&dropped),
        },
        Events {
            rx: Arc::new(Mutex::new(rx)),
            dropped,
        },
    )
}

impl<T> EventSink<T> {
    /// Hands `event` to the application, or counts it if the stream is full.
    pub(crate) fn push(&self, event: T) {
        if let Err(TrySendError::Full(_)) = self.tx.try_send(event) {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl<T> Events<T> {
    /// Waits for the next event; `Err` once the I/O thread has ended and all events are taken.
    pub fn recv(&self) -> Result<T, RecvError> {
        let rx = self.rx.lock().unwrap_or_else(PoisonError::into_inner);
        rx.recv().map_err(|_| RecvError)
    }

    /// Waits up to `timeout` for the next event.
    pub fn recv_timeout(&self, timeout: Duration) -> Result<T, RecvTimeoutError> {
        let rx = self.rx.lock().unwrap_or_else(PoisonError::into_inner);
        rx.recv_timeout(timeout).map_err(|e| match e {
            mpsc::RecvTimeoutError::Timeout => RecvTimeoutError::Timeout,
            mpsc::RecvTimeoutError::Disconnected => RecvTimeoutError::Closed,
        })
    }

    /// The next event if one is waiting.
    pub fn try_recv(&self) -> Result<T, TryRecvError> {
        let rx = self.rx.lock().unwrap_or_else(PoisonError::into_inner);
        rx.try_recv().map_err(|e| match e {
            mpsc::TryRecvError::Empty => TryRecvError::Empty,
            mpsc::TryRecvError::Disconnected => TryRecvError::Closed,
        })
    }

    /// Events dropped because the stream was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl<T> Iterator for Events<T> {
    type Item = T;

    /// Blocks for the next event; ends when the I/O thread has ended.
    fn next(&mut self) -> Option<T> {
        self.recv().ok()
    }
}
