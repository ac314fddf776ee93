//! Close on drop, the rule every adapter follows: when the last client handle goes, the driver
//! is told to close, and the dropping thread waits briefly for the CLOSE datagram to leave.
//!
//! The wait is what makes a process that ends right after dropping its client (the end of
//! `main`) still tell the server: the driver runs on another thread, which the process's exit
//! would stop. It is bounded by [`CLOSE_SEND_WAIT`] and skipped on the thread the driver last
//! ran on, where waiting would only stall the driver itself (a callback dropping the last
//! handle, an executor the application runs); there the CLOSE leaves as soon as the driver
//! runs again. The adapter does the waiting; this module decides whether and how long.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The longest a dropping thread waits for the driver to send the CLOSE. Sending it takes well
/// under a millisecond; the bound covers a driver busy with a burst.
pub const CLOSE_SEND_WAIT: Duration = Duration::from_millis(200);

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
pub struct DriverThread(Arc<AtomicU64>);

impl DriverThread {
    /// Called by the driver each time it runs (or once, on a thread of its own).
    pub fn record(&self) {
        self.0.store(current_thread(), Ordering::Relaxed);
    }

    /// Whether the caller runs on the driver's last thread.
    pub fn is_current(&self) -> bool {
        self.0.load(Ordering::Relaxed) == current_thread()
    }

    /// How long a thread dropping the last handle waits for the CLOSE to be sent: not at all on
    /// the driver's own thread, [`CLOSE_SEND_WAIT`] elsewhere.
    pub fn close_send_wait(&self) -> Option<Duration> {
        (!self.is_current()).then_some(CLOSE_SEND_WAIT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_is_skipped_on_the_driver_thread_only() {
        let driver = DriverThread::default();
        assert_eq!(driver.close_send_wait(), Some(CLOSE_SEND_WAIT));
        driver.record();
        assert!(driver.is_current());
        assert_eq!(driver.close_send_wait(), None);
        let other = driver.clone();
        std::thread::spawn(move || assert_eq!(other.close_send_wait(), Some(CLOSE_SEND_WAIT)))
            .join()
            .unwrap();
    }
}
