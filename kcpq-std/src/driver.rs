//! The one loop every I/O thread runs: the core's drain contract, literally.

use std::sync::atomic::{AtomicU64, Ordering};

use kcpq_core::{Drive, Instant};

use crate::clock::Clock;
use crate::io::{IoSocket, MAX_DATAGRAM};

/// A core state machine plus the adapter state around it (handles' commands, routing of events).
pub(crate) trait Driven {
    /// The core state machine, driven by the drain contract.
    type Machine: Drive;
    /// The state machine.
    fn machine(&mut self) -> &mut Self::Machine;
    /// Takes the handles' commands and applies them to the core (API calls).
    fn commands(&mut self, now: Instant);
    /// Hands one `poll_event` to the application. Returns whether it called the core's API
    /// (then the output is drained again before sleeping).
    fn on_event(&mut self, event: <Self::Machine as Drive>::Event) -> bool;
    /// Called once the output was sent and the events taken, before sleeping.
    fn after_drain(&mut self);
    /// Whether the thread's work is done.
    fn finished(&self) -> bool;
}

/// Drives `machine` over `io` until it is finished:
///
/// 1. apply commands from handles (API calls);
/// 2. drain: send every `poll_transmit` datagram, then take every `poll_event`;
/// 3. sleep in `recv_from` until a datagram, a wake-up or `poll_timeout` (no deadline: sleep
///    until a datagram or a wake-up); feed what arrived with `handle_datagram`, and call
///    `handle_timeout` once the deadline has passed.
///
/// `turns` counts the loop's turns (each is one wake-up), so tests and operators can check that
/// an idle client or server sleeps.
pub(crate) fn run(machine: &mut impl Driven, io: &IoSocket, clock: &Clock, turns: &AtomicU64) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        turns.fetch_add(1, Ordering::Relaxed);
        let now = clock.now();
        machine.commands(now);
        loop {
            while let Some(t) = machine.machine().poll_transmit(now, &mut buf) {
                io.send(t.destination, &buf[..t.len]);
            }
            let mut called = false;
            while let Some(event) = machine.machine().poll_event() {
                called |= machine.on_event(event);
            }
            if !called {
                break;
            }
        }
        machine.after_drain();
        if machine.finished() {
            return;
        }
        let deadline = machine.machine().poll_timeout();
        let timeout = deadline.map(|d| clock.until(d));
        io.wait(&mut buf, timeout, |from, datagram| {
            machine
                .machine()
                .handle_datagram(clock.now(), from, datagram);
        });
        let now = clock.now();
        if deadline.is_some_and(|d| d <= now) {
            machine.machine().handle_timeout(now);
        }
    }
}
