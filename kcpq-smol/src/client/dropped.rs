//! Close on drop: when the last `Client` handle goes, the driver is told to close, and the
//! dropping thread waits briefly for the CLOSE datagram to leave.
//!
//! The wait is what makes a process that ends right after dropping its client (the end of
//! `main`) still tell the server: the driver runs on another thread, which the process's exit
//! would stop. It is bounded by [`CLOSE_SEND_WAIT`] and skipped on the thread the driver last
//! ran on, where waiting would only stall the driver itself (an executor you run with
//! `Spawner::Executor`, or a task on the driver's executor thread); there the CLOSE leaves as
//! soon as the driver runs again.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Duration;

/// The longest a dropping thread waits for the driver to send the CLOSE. Sending it takes well
/// under a millisecond; the bound covers a driver busy with a burst.
pub(crate) const CLOSE_SEND_WAIT: Duration = Duration::from_millis(200);

/// A number for the current thread, unique in the process (0 is never one).
fn current_thread() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static NUMBER: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}

/// The thread the driver last ran on, shared by the driver and the handles.
#[derive(Debug, Clone, Default)]
pub(crate) struct DriverThread(Arc<AtomicU64>);

impl DriverThread {
    /// Called by the driver each time it runs.
    pub(crate) fn record(&self) {
        self.0.store(current_thread(), Ordering::Relaxed);
    }

    /// Whether the caller runs on the driver's last thread.
    pub(crate) fn is_current(&self) -> bool {
        self.0.load(Ordering::Relaxed) == current_thread()
    }
}

/// The driver's side: told once the CLOSE has been handed to the socket.
pub(crate) type CloseSent = SyncSender<()>;

/// A channel for [`CloseSent`].
pub(crate) fn close_sent_channel() -> (CloseSent, Receiver<()>) {
    sync_channel(1)
}

/// Waits for the driver to report the CLOSE sent, unless this is the driver's thread.
pub(crate) fn wait_for_close_sent(driver: &DriverThread, sent: &Receiver<()>) {
    if !driver.is_current() {
        let _ = sent.recv_timeout(CLOSE_SEND_WAIT);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_told_apart() {
        let driver = DriverThread::default();
        assert!(!driver.is_current());
        driver.record();
        assert!(driver.is_current());
        let other = driver.clone();
        std::thread::spawn(move || assert!(!other.is_current()))
            .join()
            .unwrap();
    }

    #[test]
    fn the_wait_is_skipped_on_the_driver_thread_and_bounded_elsewhere() {
        let driver = DriverThread::default();
        let (_sent, never) = close_sent_channel();
        driver.record();
        wait_for_close_sent(&driver, &never);
        let (sent, told) = close_sent_channel();
        sent.try_send(()).unwrap();
        let other = DriverThread::default();
        wait_for_close_sent(&other, &told);
    }
}
