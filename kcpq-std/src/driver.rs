//! The one loop every I/O thread runs: the core's drain contract, literally, around one of the
//! shared drivers ([`Driver`]: the client's or the server's).

use std::sync::atomic::{AtomicU64, Ordering};

use kcpq_core::Drive;
use kcpq_core::adapter::Driver;
use kcpq_os::Clock;

use crate::io::{IoSocket, MAX_DATAGRAM};
use crate::link::{Commands, Taken};

/// Commands taken per loop turn before the I/O thread serves the network again.
const MAX_COMMANDS_PER_TURN: usize = 4096;

/// Drives `driver` over `io` until it is done:
///
/// 1. apply commands from handles (API calls);
/// 2. drain: send every `poll_transmit` datagram, then take every `poll_event`;
/// 3. sleep in `recv_from` until a datagram, a wake-up or `poll_timeout` (no deadline: sleep
///    until a datagram or a wake-up); feed what arrived with `handle_datagram`, and call
///    `handle_timeout` once the deadline has passed.
///
/// `turns` counts the loop's turns (each is one wake-up), so tests and operators can check that
/// an idle client or server sleeps.
pub(crate) fn run<D: Driver>(
    driver: &mut D,
    commands: &Commands<D::Command>,
    io: &IoSocket,
    clock: Clock,
    turns: &AtomicU64,
) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        turns.fetch_add(1, Ordering::Relaxed);
        let now = clock.now();
        take_commands(driver, commands, now);
        loop {
            while let Some(t) = driver.machine().poll_transmit(now, &mut buf) {
                io.send(t.destination, &buf[..t.len]);
            }
            let mut called = false;
            while let Some(event) = driver.machine().poll_event() {
                called |= driver.on_event(event, std::time::Instant::now());
            }
            if !called {
                break;
            }
        }
        driver.after_send();
        if driver.done() {
            return driver.finish();
        }
        let deadline = driver.machine().poll_timeout();
        io.wait(
            &mut buf,
            deadline.map(|d| clock.until(d)),
            |from, datagram| {
                driver
                    .machine()
                    .handle_datagram(clock.now(), from, datagram);
            },
        );
        let now = clock.now();
        if deadline.is_some_and(|d| d <= now) {
            driver.machine().handle_timeout(now);
        }
    }
}

/// Applies the handles' commands, at most a turn's worth; stops at a command the core cannot
/// take yet (it is retried next turn, and the senders wait meanwhile).
fn take_commands<D: Driver>(
    driver: &mut D,
    commands: &Commands<D::Command>,
    now: kcpq_core::Instant,
) {
    commands.rearm();
    if !driver.retry(now) {
        return;
    }
    let mut taken = 0;
    loop {
        if taken == MAX_COMMANDS_PER_TURN {
            commands.wake();
            break;
        }
        match commands.take() {
            Taken::Command(command) => {
                taken += 1;
                if !driver.apply(now, command) {
                    break;
                }
            }
            Taken::Empty => break,
            Taken::Disconnected => {
                driver.abandoned(now);
                break;
            }
        }
    }
    if taken > 0 {
        commands.made_room();
    }
}
