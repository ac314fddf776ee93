//! The one event loop both drivers run (the shared drivers of `kcpq_core::adapter`, through
//! their [`Driver`] interface), following the core's drain contract: after every wake-up
//! (the burst of datagrams the socket holds, a burst of API commands, a timeout) drain
//! `poll_transmit` into the outgoing batch and `poll_event` until both are empty, then sleep
//! until a datagram, a command or `poll_timeout`, whichever comes first. There is no fixed tick.
//!
//! Between reading and draining, the loop hands the new events to their tasks and yields once,
//! then applies the commands those tasks queued: a reply made on the same thread leaves in the
//! datagram that acknowledges what it answers (in the latency benchmark the two clients send 3
//! datagrams per round trip instead of 4).

use std::future::poll_fn;

use async_channel::Receiver;
use futures_lite::future;
use kcpq_core::adapter::{Driver, Taken, apply_commands};
use kcpq_core::{Drive, Instant};

use crate::runtime::{Runtime, Socket, Timer};
use crate::socket::UdpIo;
use kcpq_os::Clock;

/// Most datagrams handled in one pass of a wake-up before their events are handed to their
/// tasks, so that what is read stays in the cache while it is routed.
const MAX_BURST: usize = 64;

/// Most passes of [`MAX_BURST`] datagrams in one wake-up of a client's driver before output is
/// sent and the executor gets the thread back, so that a connection receiving a stream keeps
/// up with the connections publishing on its thread (each applies up to
/// [`MAX_COMMAND_BURST`] commands a wake-up): at one pass, a subscriber sharing a thread with
/// four publishers got a quarter of their pace, and its server dropped the rest as a slow
/// consumer's. A server's driver takes one pass: at four, its larger intake per wake-up let a
/// publisher of 1 KB messages get ahead of one of two subscribers by a slow consumer's limit.
pub(crate) const CLIENT_RECEIVE_PASSES: usize = 4;

/// Most commands handled in one wake-up before output is drained: enough to fill several
/// datagrams with small publishes, few enough to keep the first one's latency low.
const MAX_COMMAND_BURST: usize = 256;

enum Wake<C> {
    Readable,
    Peer,
    Command(C),
    CommandsClosed,
    Timer,
}

/// Runs `driver` until it is done (then the caller calls [`Driver::finish`]). A command the
/// driver keeps (its core's outbox is full) stops the taking of commands until
/// [`Driver::retry`] succeeds, so senders wait in the bounded channel (back-pressure).
/// `peers`: the doorbell the server's other workers ring when they send this worker
/// something ([`Driver::take_cross`] takes it, on every turn and whatever back-pressure the
/// commands get: a worker never waits for another).
pub(crate) async fn run<R: Runtime, D: Driver>(
    driver: &mut D,
    io: &mut UdpIo<R::Socket>,
    clock: Clock,
    commands: &Receiver<D::Command>,
    peers: Option<&Receiver<()>>,
    receive_passes: usize,
) {
    let mut commands_open = true;
    let mut alarm = Alarm::<R::Timer>::default();
    let mut now = clock.now();
    loop {
        drain(driver, io, clock, now).await;
        driver.after_send();
        if driver.done() {
            break;
        }
        let deadline = driver.machine().poll_timeout();
        let accepting = commands_open && driver.retry(now);
        alarm.arm(deadline.map(|t| clock.std_instant(t)));
        let wake = next_wake(io, &mut alarm, commands, accepting, peers).await;
        now = clock.now();
        match wake {
            Wake::Readable => {}
            Wake::Peer => _ = driver.take_cross(now),
            Wake::Timer => alarm.fired(),
            Wake::Command(command) => {
                // The whole burst first, then the output: publishes queued back to back are
                // coalesced into full datagrams instead of one datagram each.
                driver.apply(now, command);
                take_commands(driver, commands, now, MAX_COMMAND_BURST - 1);
            }
            Wake::CommandsClosed => {
                commands_open = false;
                driver.abandoned(now);
            }
        }
        // Read what the socket holds on every wake-up, whatever woke us, and before the
        // timers run. Commands win the race in `next_wake`, so a caller publishing without
        // pause would otherwise keep the socket unread; and after a stall (a descheduled
        // process, a paused VM) the retransmission timers and the ACKs that make them moot are
        // ready together: handling the timers first would retransmit what already arrived.
        receive_burst(driver, io, clock, now, receive_passes);
        if driver.machine().poll_timeout().is_some_and(|t| t <= now) {
            driver.machine().handle_timeout(now);
        }
        // Hand what arrived to its tasks before the yield below, so they can answer it
        // before the output (the ACKs of what was just read, first of all) is drained.
        driver.route_events(clock.std_instant(now));
        // A wake-up that found work ready never returned to the executor; without this, a busy
        // driver would starve every task sharing its thread (another client's driver whose
        // ACKs then arrive late, the subscriber reading its stream).
        future::yield_now().await;
        // The tasks that ran during the yield may have queued commands: a reply to a message
        // just delivered, say. Applied before the output is drained, they leave in the same
        // datagrams as the ACKs of what was just read, instead of one round later and with an
        // ACK-only datagram ahead of them.
        if commands_open {
            take_commands(driver, commands, now, MAX_COMMAND_BURST);
        }
        driver.take_cross(now);
    }
    io.send_batch().await;
    // Refuse further commands and drop those already queued, so their callers' answer
    // channels close instead of waiting forever.
    commands.close();
    while commands.try_recv().is_ok() {}
}

/// Applies up to `max` commands already queued, while the driver takes them; never waits. A
/// closed channel is left to the loop's `next_wake`, which reports it once.
fn take_commands<D: Driver>(
    driver: &mut D,
    commands: &Receiver<D::Command>,
    now: Instant,
    max: usize,
) {
    apply_commands(driver, now, max, || match commands.try_recv() {
        Ok(command) => Taken::Command(command),
        Err(_) => Taken::Empty,
    });
}

/// Handles the datagrams the socket holds, up to `passes` passes of [`MAX_BURST`], before
/// any output, handing each full pass's events to their tasks before the next: messages
/// arriving in consecutive datagrams leave coalesced, and one ACK answers the burst instead of
/// one per datagram. With offload, datagrams the kernel handed over beyond the burst (in a
/// batched read or a GRO train) wait in `io`, which then reports itself readable at once.
fn receive_burst<D: Driver, S: Socket>(
    driver: &mut D,
    io: &mut UdpIo<S>,
    clock: Clock,
    now: Instant,
    passes: usize,
) {
    for pass in 1..=passes {
        let handled = io.recv_batch(MAX_BURST, |datagrams| {
            driver.machine().handle_datagrams(now, datagrams);
        });
        if handled < MAX_BURST || pass >= passes {
            break;
        }
        driver.route_events(clock.std_instant(now));
    }
}

/// Drains transmits and events (whose handling may queue more output), then sends the batch.
async fn drain<D: Driver, S: Socket>(
    driver: &mut D,
    io: &mut UdpIo<S>,
    clock: Clock,
    now: Instant,
) {
    drain_unsent(driver, io, clock, now).await;
    io.send_batch().await;
}

/// Drains transmits into the batch (sending it whenever it fills) and events, until both are
/// empty; the batch may still hold datagrams afterwards.
async fn drain_unsent<D: Driver, S: Socket>(
    driver: &mut D,
    io: &mut UdpIo<S>,
    clock: Clock,
    now: Instant,
) {
    loop {
        loop {
            let Some(transmit) = driver.machine().poll_transmit(now, io.slot()) else {
                io.release_slot();
                break;
            };
            if io.commit(transmit) {
                io.send_batch().await;
            }
        }
        if !driver.route_events(clock.std_instant(now)) {
            break;
        }
    }
}

/// The loop's one timer. It is re-armed only for a deadline earlier than the one it holds; a
/// later or absent deadline keeps it, so at worst it fires early, into a wake-up that finds
/// nothing due. Arming a timer wakes the reactor (an eventfd write and one more round of
/// `epoll_wait`), and the deadline moves at almost every wake-up (each send arms a
/// retransmission deadline, each ACK clears it): re-arming every time cost a reactor wake-up
/// per message.
#[derive(Debug)]
struct Alarm<T> {
    timer: T,
    /// When the timer fires, if it is armed.
    armed: Option<std::time::Instant>,
}

impl<T: Timer> Default for Alarm<T> {
    fn default() -> Self {
        Alarm {
            timer: T::never(),
            armed: None,
        }
    }
}

impl<T: Timer> Alarm<T> {
    /// Makes sure the timer fires at `deadline` or earlier.
    fn arm(&mut self, deadline: Option<std::time::Instant>) {
        let Some(at) = deadline else {
            return;
        };
        if self.armed.is_none_or(|armed| at < armed) {
            self.timer.set_at(at);
            self.armed = Some(at);
        }
    }

    /// The timer fired: it is disarmed.
    fn fired(&mut self) {
        self.armed = None;
    }
}

async fn next_wake<C, S: Socket, T: Timer>(
    io: &UdpIo<S>,
    alarm: &mut Alarm<T>,
    commands: &Receiver<C>,
    accepting: bool,
    peers: Option<&Receiver<()>>,
) -> Wake<C> {
    let readable = async {
        match io.readable().await {
            Ok(()) => Wake::Readable,
            Err(e) => {
                log::warn!("UDP socket error: {e}");
                future::pending().await
            }
        }
    };
    let command = async {
        if !accepting {
            return future::pending().await;
        }
        match commands.recv().await {
            Ok(command) => Wake::Command(command),
            Err(_) => Wake::CommandsClosed,
        }
    };
    let timer = async {
        poll_fn(|cx| alarm.timer.poll_fired(cx)).await;
        Wake::Timer
    };
    let peer = async {
        match peers {
            // The senders live as long as the workers; a closed channel is a stopped server.
            Some(peers) => match peers.recv().await {
                Ok(()) => Wake::Peer,
                Err(_) => future::pending().await,
            },
            None => future::pending().await,
        }
    };
    future::or(future::or(peer, command), future::or(readable, timer)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
    use std::time::Duration;

    use crate::socket::SocketOptions;
    use crate::test_runtime::{TestRuntime, TestSocket, TestTimer};
    use kcpq_core::Transmit;

    /// A machine that owes an ACK (`A`) for every datagram it reads, reports each as an event,
    /// and sends whatever reply it was given (`R`) in the same datagram as a pending ACK.
    struct Acking {
        peer: SocketAddr,
        ack_owed: bool,
        reply: Vec<u8>,
        events: VecDeque<()>,
    }

    impl Drive for Acking {
        type Event = ();
        fn handle_datagram(&mut self, _: Instant, _: SocketAddr, _: &mut [u8]) {
            self.ack_owed = true;
            self.events.push_back(());
        }
        fn handle_timeout(&mut self, _: Instant) {}
        fn poll_transmit(&mut self, _: Instant, buf: &mut [u8]) -> Option<Transmit> {
            if !self.ack_owed && self.reply.is_empty() {
                return None;
            }
            let mut len = 0;
            if std::mem::take(&mut self.ack_owed) {
                buf[0] = b'A';
                len = 1;
            }
            let reply = std::mem::take(&mut self.reply);
            buf[len..len + reply.len()].copy_from_slice(&reply);
            Some(Transmit {
                destination: self.peer,
                len: len + reply.len(),
            })
        }
        fn poll_event(&mut self) -> Option<()> {
            self.events.pop_front()
        }
        fn poll_timeout(&self) -> Option<Instant> {
            None
        }
    }

    /// Hands events to a task over `to_task`; the task's commands become the reply.
    struct Answering {
        machine: Acking,
        to_task: async_channel::Sender<()>,
        closed: bool,
    }

    impl Driver for Answering {
        type Machine = Acking;
        type Command = Vec<u8>;
        fn machine(&mut self) -> &mut Acking {
            &mut self.machine
        }
        fn apply(&mut self, _: Instant, command: Vec<u8>) -> bool {
            self.machine.reply.extend_from_slice(&command);
            true
        }
        fn retry(&mut self, _: Instant) -> bool {
            true
        }
        fn on_event(&mut self, (): (), _: std::time::Instant) -> bool {
            let _ = self.to_task.try_send(());
            false
        }
        fn abandoned(&mut self, _: Instant) {
            self.closed = true;
        }
        fn done(&self) -> bool {
            self.closed
        }
        fn finish(&mut self) {}
    }

    #[test]
    fn a_reply_made_on_the_same_thread_carries_the_ack_of_what_it_answers() {
        let peer = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the peer");
        peer.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        let mut io = UdpIo::<TestSocket>::bind(
            (Ipv4Addr::LOCALHOST, 0).into(),
            &SocketOptions::default(),
            1500,
        )
        .expect("bind the loop's socket");
        let (to_task, from_loop) = async_channel::bounded(4);
        let (commands_tx, commands) = async_channel::bounded(4);
        let mut owner = Answering {
            machine: Acking {
                peer: peer.local_addr().expect("peer address"),
                ack_owed: false,
                reply: Vec::new(),
                events: VecDeque::new(),
            },
            to_task,
            closed: false,
        };
        peer.send_to(b"ping", io.local_addr().expect("loop address"))
            .expect("send");
        let executor = smol::LocalExecutor::new();
        // The responder: answers the event, then closes the commands, which ends the loop.
        executor
            .spawn(async move {
                if from_loop.recv().await.is_ok() {
                    let _ = commands_tx.send(b"R".to_vec()).await;
                }
            })
            .detach();
        future::block_on(executor.run(run::<TestRuntime, _>(
            &mut owner,
            &mut io,
            Clock::start(),
            &commands,
            None,
            1,
        )));
        let mut buf = [0u8; 64];
        let len = peer.recv(&mut buf).expect("the answer");
        assert_eq!(
            &buf[..len],
            b"AR",
            "the ACK left with the reply, not ahead of it"
        );
    }

    #[test]
    fn the_alarm_moves_only_to_an_earlier_deadline() {
        let t0 = std::time::Instant::now() + Duration::from_secs(60);
        let mut alarm = Alarm::<TestTimer>::default();
        alarm.arm(None);
        assert_eq!(alarm.armed, None, "no deadline arms nothing");
        alarm.arm(Some(t0));
        assert_eq!(alarm.armed, Some(t0));
        alarm.arm(Some(t0 + Duration::from_millis(5)));
        alarm.arm(None);
        assert_eq!(alarm.armed, Some(t0), "a later or absent deadline keeps it");
        alarm.arm(Some(t0 - Duration::from_millis(5)));
        assert_eq!(alarm.armed, Some(t0 - Duration::from_millis(5)));
        alarm.fired();
        alarm.arm(Some(t0 + Duration::from_millis(5)));
        assert_eq!(
            alarm.armed,
            Some(t0 + Duration::from_millis(5)),
            "re-armed after firing"
        );
    }

    #[test]
    fn the_alarm_fires_at_the_earliest_deadline_it_was_given() {
        let mut alarm = Alarm::<TestTimer>::default();
        let start = std::time::Instant::now();
        alarm.arm(Some(start + Duration::from_secs(3600)));
        alarm.arm(Some(start + Duration::from_millis(1)));
        future::block_on(poll_fn(|cx| alarm.timer.poll_fired(cx)));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(1) && waited < Duration::from_secs(60),
            "fired after {waited:?}"
        );
    }
}
