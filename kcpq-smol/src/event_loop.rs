//! The one event loop both drivers run, following the core's drain contract: after every wake-up
//! (the burst of datagrams the socket holds, a burst of API commands, a timeout) drain
//! `poll_transmit` into the outgoing batch and `poll_event` until both are empty, then sleep
//! until a datagram, a command or `poll_timeout`, whichever comes first. There is no fixed tick.

use std::net::SocketAddr;

use async_channel::Receiver;
use async_io::Timer;
use futures_lite::future;
use kcpq_core::Instant;
use kcpq_core::server::Transmit;

use crate::clock::Clock;
use crate::socket::UdpIo;

/// Most datagrams or commands handled in one wake-up before output is sent, so that neither
/// input starves the other and batches stay small.
const MAX_BURST: usize = 64;

/// Most commands handled in one wake-up before output is drained: enough to fill several
/// datagrams with small publishes, few enough to keep the first one's latency low.
const MAX_COMMAND_BURST: usize = 256;

/// A core state machine as the loop drives it: the four calls of the drain contract.
pub(crate) trait Machine {
    /// What `poll_event` yields.
    type Event;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]);
    fn handle_timeout(&mut self, now: Instant);
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit>;
    fn poll_event(&mut self) -> Option<Self::Event>;
    fn poll_timeout(&self) -> Option<Instant>;
}

impl Machine for kcpq_core::client::Client {
    type Event = kcpq_core::client::ClientEvent;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        self.handle_datagram(now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.poll_transmit(now, buf)
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        self.poll_event()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }
}

impl Machine for kcpq_core::server::Server {
    type Event = kcpq_core::server::ServerEvent;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        self.handle_datagram(now, from, datagram);
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.handle_timeout(now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.poll_transmit(now, buf)
    }
    fn poll_event(&mut self) -> Option<Self::Event> {
        self.poll_event()
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.poll_timeout()
    }
}

/// The task that owns a state machine: it handles its events and the API's commands.
pub(crate) trait Owner {
    /// The state machine.
    type M: Machine;
    /// What API handles send.
    type Command;
    fn machine(&mut self) -> &mut Self::M;
    fn on_event(&mut self, now: Instant, event: <Self::M as Machine>::Event);
    fn on_command(&mut self, now: Instant, command: Self::Command);
    /// Every API handle is gone.
    fn on_commands_closed(&mut self, now: Instant);
    /// Whether the owner takes commands now; `false` leaves them queued in the bounded channel,
    /// so senders wait (back-pressure). Called before every sleep, after output was drained.
    fn accepts_commands(&mut self, _now: Instant) -> bool {
        true
    }
    /// A deadline of the owner's own, beside the machine's.
    fn deadline(&self) -> Option<Instant> {
        None
    }
    /// Whether the loop should end.
    fn done(&self, now: Instant) -> bool;
}

enum Wake<C> {
    Readable,
    Command(C),
    CommandsClosed,
    Timer,
}

/// Runs `owner` until it is done.
pub(crate) async fn run<O: Owner>(
    owner: &mut O,
    io: &mut UdpIo,
    clock: Clock,
    commands: &Receiver<O::Command>,
) {
    let mut commands_open = true;
    let mut alarm = Alarm::default();
    let mut now = clock.now();
    loop {
        drain(owner, io, now).await;
        if owner.done(now) {
            break;
        }
        let deadline = [owner.machine().poll_timeout(), owner.deadline()]
            .into_iter()
            .flatten()
            .min();
        let accepting = commands_open && owner.accepts_commands(now);
        alarm.arm(deadline.map(|t| clock.std_instant(t)));
        let wake = next_wake(io, &mut alarm, commands, accepting).await;
        now = clock.now();
        match wake {
            Wake::Readable => {}
            Wake::Timer => alarm.fired(),
            Wake::Command(command) => {
                // The whole burst first, then the output: publishes queued back to back are
                // coalesced into full datagrams instead of one datagram each.
                owner.on_command(now, command);
                for _ in 1..MAX_COMMAND_BURST {
                    if !owner.accepts_commands(now) {
                        break;
                    }
                    let Ok(command) = commands.try_recv() else {
                        break;
                    };
                    owner.on_command(now, command);
                }
            }
            Wake::CommandsClosed => {
                commands_open = false;
                owner.on_commands_closed(now);
            }
        }
        // Read what the socket holds on every wake-up, whatever woke us, and before the
        // timers run. Commands win the race in `next_wake`, so a caller publishing without
        // pause would otherwise keep the socket unread; and after a stall (a descheduled
        // process, a paused VM) the retransmission timers and the ACKs that make them moot are
        // ready together: handling the timers first would retransmit what already arrived.
        receive_burst(owner, io, now);
        if owner.machine().poll_timeout().is_some_and(|t| t <= now) {
            owner.machine().handle_timeout(now);
        }
        // A wake-up that found work ready never returned to the executor; without this, a busy
        // driver would starve every task sharing its thread (another client's driver whose
        // ACKs then arrive late, the subscriber reading its stream).
        future::yield_now().await;
    }
    io.send_batch().await;
    // Refuse further commands and drop those already queued, so their callers' answer
    // channels close instead of waiting forever.
    commands.close();
    while commands.try_recv().is_ok() {}
}

/// Handles the datagrams the socket holds, up to [`MAX_BURST`], before any output: messages
/// arriving in consecutive datagrams leave coalesced, and one ACK answers the burst instead of
/// one per datagram. With offload, datagrams the kernel handed over beyond the burst (in a
/// batched read or a GRO train) wait in `io`, which then reports itself readable at once.
fn receive_burst<O: Owner>(owner: &mut O, io: &mut UdpIo, now: Instant) {
    io.recv_batch(MAX_BURST, |from, datagram| {
        owner.machine().handle_datagram(now, from, datagram);
    });
}

/// Drains transmits and events (whose handling may queue more output), then sends the batch.
async fn drain<O: Owner>(owner: &mut O, io: &mut UdpIo, now: Instant) {
    drain_unsent(owner, io, now).await;
    io.send_batch().await;
}

/// Drains transmits into the batch (sending it whenever it fills) and events, until both are
/// empty; the batch may still hold datagrams afterwards.
async fn drain_unsent<O: Owner>(owner: &mut O, io: &mut UdpIo, now: Instant) {
    loop {
        loop {
            let Some(transmit) = owner.machine().poll_transmit(now, io.slot()) else {
                io.release_slot();
                break;
            };
            if io.commit(transmit) {
                io.send_batch().await;
            }
        }
        let mut handled = false;
        while let Some(event) = owner.machine().poll_event() {
            owner.on_event(now, event);
            handled = true;
        }
        if !handled {
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
struct Alarm {
    timer: Timer,
    /// When the timer fires, if it is armed.
    armed: Option<std::time::Instant>,
}

impl Default for Alarm {
    fn default() -> Self {
        Alarm {
            timer: Timer::never(),
            armed: None,
        }
    }
}

impl Alarm {
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

async fn next_wake<C>(
    io: &UdpIo,
    alarm: &mut Alarm,
    commands: &Receiver<C>,
    accepting: bool,
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
        (&mut alarm.timer).await;
        Wake::Timer
    };
    future::or(command, future::or(readable, timer)).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_alarm_moves_only_to_an_earlier_deadline() {
        let t0 = std::time::Instant::now() + Duration::from_secs(60);
        let mut alarm = Alarm::default();
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
        let mut alarm = Alarm::default();
        let start = std::time::Instant::now();
        alarm.arm(Some(start + Duration::from_secs(3600)));
        alarm.arm(Some(start + Duration::from_millis(1)));
        let fired_at = futures_lite::future::block_on(&mut alarm.timer);
        assert_eq!(fired_at, start + Duration::from_millis(1));
    }
}
