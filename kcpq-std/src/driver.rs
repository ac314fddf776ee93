//! The I/O thread: the one loop every client and server runs, the core's drain contract
//! literally, around one of the shared drivers ([`Driver`]: the client's or the server's).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use kcpq_core::Drive;
use kcpq_core::adapter::{Driver, WaitError, apply_commands};
use kcpq_os::Clock;

use crate::io::IoSocket;
use crate::link::{Commands, Deadline, Link};

/// Commands taken per loop turn before the I/O thread serves the network again.
const MAX_COMMANDS_PER_TURN: usize = 4096;

/// A running I/O thread, and how many times its loop has turned (each turn is one wake-up, so
/// tests and operators can check that an idle client or server sleeps).
#[derive(Debug)]
pub(crate) struct IoThread {
    thread: Mutex<Option<JoinHandle<()>>>,
    turns: Arc<AtomicU64>,
}

impl IoThread {
    /// Starts the thread `name`, which drives `driver` over `io` until it is done.
    pub(crate) fn spawn<D: Driver<Command: Send> + Send + 'static>(
        name: &str,
        mut driver: D,
        commands: Commands<D::Command>,
        mut io: IoSocket,
        clock: Clock,
    ) -> std::io::Result<IoThread> {
        let turns = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&turns);
        let thread = std::thread::Builder::new()
            .name(name.to_owned())
            .spawn(move || run(&mut driver, &commands, &mut io, clock, &counter))?;
        let thread = Mutex::new(Some(thread));
        Ok(IoThread { thread, turns })
    }

    /// How many times the loop has turned so far.
    pub(crate) fn wakeups(&self) -> u64 {
        self.turns.load(Ordering::Relaxed)
    }

    /// Waits for the thread to end (at once if another caller already did).
    pub(crate) fn join(&self) {
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
    }

    /// Sends the close, drain or shutdown command `make` builds over `link`, waits for its
    /// answer until `deadline`, and joins the thread unless that wait timed out.
    pub(crate) fn stop<C, T>(
        &self,
        link: &Link<C>,
        make: impl FnOnce(SyncSender<T>) -> C,
        deadline: Deadline,
    ) -> Result<T, WaitError> {
        let result = link.call(make, deadline, Duration::ZERO);
        if !matches!(result, Err(WaitError::TimedOut(_))) {
            self.join();
        }
        result
    }
}

/// Drives `driver` over `io` until it is done:
///
/// 1. take in what the server's other workers sent, then apply commands from handles (API
///    calls);
/// 2. drain: queue every `poll_transmit` datagram (sent whenever the queue fills), take every
///    `poll_event`, and send what is queued;
/// 3. sleep in the poller until a datagram, a wake-up or `poll_timeout` (no deadline: sleep
///    until a datagram or a wake-up); feed what arrived with `handle_datagrams`, in the groups
///    the socket read together, and call `handle_timeout` once the deadline has passed.
fn run<D: Driver>(
    driver: &mut D,
    commands: &Commands<D::Command>,
    io: &mut IoSocket,
    clock: Clock,
    turns: &AtomicU64,
) {
    loop {
        turns.fetch_add(1, Ordering::Relaxed);
        let now = clock.now();
        commands.signals.waker.rearm();
        driver.take_cross(now);
        let (taken, more) = apply_commands(driver, now, MAX_COMMANDS_PER_TURN, || commands.take());
        if more {
            commands.signals.waker.wake();
        }
        if taken > 0 {
            commands.made_room();
        }
        loop {
            while let Some(t) = driver.machine().poll_transmit(now, io.slot()) {
                io.commit(t);
            }
            io.release_slot();
            if !driver.route_events(std::time::Instant::now()) {
                break;
            }
        }
        io.flush();
        driver.after_send();
        if driver.done() {
            return driver.finish();
        }
        let deadline = driver.machine().poll_timeout();
        let timeout = deadline.map(|d| clock.until(d));
        io.wait(timeout, |datagrams| {
            driver.machine().handle_datagrams(clock.now(), datagrams);
        });
        let now = clock.now();
        if deadline.is_some_and(|d| d <= now) {
            driver.machine().handle_timeout(now);
        }
    }
}
