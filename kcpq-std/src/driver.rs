//! The one loop every I/O thread runs: the core's drain contract, literally.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};

use kcpq_core::Instant;
use kcpq_core::server::Transmit;

use crate::clock::Clock;
use crate::io::{IoSocket, MAX_DATAGRAM};

/// A core state machine plus the adapter state around it (handles' commands, routing of events).
pub(crate) trait Driven {
    /// Takes the handles' commands and applies them to the core (API calls).
    fn commands(&mut self, now: Instant);
    /// The core's `handle_datagram`.
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]);
    /// The core's `handle_timeout`, plus the adapter's own deadline if it has one.
    fn handle_timeout(&mut self, now: Instant);
    /// The core's `poll_transmit`.
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;
    /// Takes every `poll_event` and hands each to the application. Returns whether it called
    /// the core's API meanwhile (then the output is drained again before sleeping).
    fn events(&mut self, now: Instant) -> bool;
    /// The core's `poll_timeout`, or an earlier deadline of the adapter.
    fn poll_timeout(&self) -> Option<Instant>;
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
            while let Some(t) = machine.poll_transmit(now, &mut buf) {
                io.send(t.destination, &buf[..t.len]);
            }
            if !machine.events(now) {
                break;
            }
        }
        if machine.finished() {
            return;
        }
        let deadline = machine.poll_timeout();
        let timeout = deadline.map(|d| clock.until(d));
        io.wait(&mut buf, timeout, |from, datagram| {
            machine.handle_datagram(clock.now(), from, datagram);
        });
        let now = clock.now();
        if deadline.is_some_and(|d| d <= now) {
            machine.handle_timeout(now);
        }
    }
}
