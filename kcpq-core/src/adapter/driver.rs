//! What a runtime adapter lends the shared drivers ([`ClientDriver`](super::ClientDriver),
//! [`ServerDriver`](super::ServerDriver)): its channel types ([`Channels`]), and the one
//! interface its loop drives them through ([`Driver`]). The loop itself (socket, timer, task
//! or thread, the command channel) is the adapter's.

use std::sync::Arc;

use super::{Deliver, Inbox, Message, SubscriptionInbox, Wake};
use crate::Drive;
use crate::queue::PushOutcome;

/// How an adapter answers waiting callers, reports events, holds payloads and wakes the
/// readers of an inbox: its channel and buffer types, as a marker type.
pub trait Channels: Sized + 'static {
    /// The one-shot channel a caller waits on for the answer to its command.
    type Reply<T: Send + 'static>: Send + 'static;
    /// The bounded stream of events the application reads (a full stream drops new events).
    type Events<T: Send + 'static>: Send + 'static;
    /// The payload buffer of a message (`Vec<u8>`, `Bytes`).
    type Payload: AsRef<[u8]> + From<Vec<u8>> + Send + 'static;
    /// How a subscription's reader is woken (a condition variable, a task's waker).
    type Wake: Wake + Send + Sync + 'static;

    /// Answers a waiting caller; `false` when it stopped waiting.
    fn answer<T: Send + 'static>(reply: Self::Reply<T>, value: T) -> bool;

    /// Hands `event` to the application, or drops it when the stream is full.
    fn emit<T: Send + 'static>(events: &Self::Events<T>, event: T);
}

/// What a subscription's handle sends its driver (a client's or a server's), whichever it is.
pub trait SubscriptionCommand: Sized {
    /// Ends subscription `sid` now (`after: None`) or once it has received `after` messages.
    fn unsubscribe(sid: crate::Sid, after: Option<u64>) -> Self;

    /// Reports `event` (a slow callback) on the event stream; `None` where the driver reports
    /// no such event (the server's owner).
    fn emit(event: super::Event) -> Option<Self>;
}

/// A subscription's inbox in adapter `C`: filled by the driver, read by the handle.
pub type SubInbox<C> = Arc<Inbox<Message<<C as Channels>::Payload>, <C as Channels>::Wake>>;

impl<P: AsRef<[u8]> + From<Vec<u8>>, W: Wake> Deliver for Arc<Inbox<Message<P>, W>> {
    fn deliver(
        &self,
        message: crate::Message,
        received: std::time::Instant,
    ) -> Option<PushOutcome> {
        self.push_deferred(Message::from_core(message, received))
    }

    fn wake(&self) {
        self.wake_due();
    }

    fn close(&self) {
        Inbox::close(self);
    }
}

impl<P: AsRef<[u8]> + From<Vec<u8>>, W: Wake> SubscriptionInbox for Arc<Inbox<Message<P>, W>> {
    fn dropped(&self) -> u64 {
        Inbox::dropped(self)
    }

    fn is_closed(&self) -> bool {
        Inbox::is_closed(self)
    }
}

/// A core state machine with the adapter-neutral state around it (waiting callers, inboxes),
/// as an adapter's loop drives it. Each turn of the loop:
///
/// 1. [`Driver::retry`], then [`Driver::apply`] the handles' commands while it returns `true`
///    ([`Driver::abandoned`] once every handle is gone);
/// 2. drain the [`Driver::machine`]'s output (every `poll_transmit`, then every `poll_event`
///    through [`Driver::on_event`] and then [`Driver::wake_readers`]: [`Driver::route_events`],
///    again while `on_event` returned `true`), then [`Driver::after_send`];
/// 3. once [`Driver::done`], [`Driver::finish`] and end; otherwise sleep until a datagram, a
///    command or the machine's `poll_timeout`.
pub trait Driver {
    /// The core state machine.
    type Machine: Drive;
    /// What the handles send.
    type Command;

    /// The state machine, for the drain contract.
    fn machine(&mut self) -> &mut Self::Machine;

    /// Applies one command. `false`: the core's outbox is full and the command is kept; take no
    /// more commands until [`Driver::retry`] succeeds (back-pressure on the senders).
    fn apply(&mut self, now: crate::Instant, command: Self::Command) -> bool;

    /// Retries a command [`Driver::apply`] kept; `true` when none is left waiting.
    fn retry(&mut self, now: crate::Instant) -> bool;

    /// Routes one event the machine reported, taken from the network at `received`. Returns
    /// whether it called the machine's API (then its output is drained again).
    fn on_event(
        &mut self,
        event: <Self::Machine as Drive>::Event,
        received: std::time::Instant,
    ) -> bool;

    /// Every handle is gone: close or stop.
    fn abandoned(&mut self, now: crate::Instant);

    /// A run of [`Driver::on_event`] calls is over: wake the readers of the inboxes it filled
    /// (messages are queued without a wake, so a reader is woken once per run, not once per
    /// message). The loop calls it after every run of `poll_event`, before it yields or sends.
    fn wake_readers(&mut self) {}

    /// Routes every event the machine has ready through [`Driver::on_event`], all taken from
    /// the network at `received`, then [`Driver::wake_readers`]: the run of events every loop
    /// hands out after reading and after sending. Returns whether an `on_event` called the
    /// machine's API (then its output is drained again).
    fn route_events(&mut self, received: std::time::Instant) -> bool {
        let mut called = false;
        while let Some(event) = self.machine().poll_event() {
            called |= self.on_event(event, received);
        }
        self.wake_readers();
        called
    }

    /// The output so far has been handed to the socket (once per turn, on the loop's thread).
    fn after_send(&mut self) {}

    /// Takes in what the server's other workers sent this one (a server's worker; others have
    /// nothing to take); whether there was anything. The loop calls it on every turn and when
    /// its [`Doorbell`](super::Doorbell) rings, never waiting.
    fn take_cross(&mut self, _now: crate::Instant) -> bool {
        false
    }

    /// Whether the machine has ended.
    fn done(&self) -> bool;

    /// The machine has ended: every stream ends, and everyone still waiting is answered.
    fn finish(&mut self);
}

/// What a driver's command channel yielded.
#[derive(Debug)]
pub enum Taken<C> {
    /// A command.
    Command(C),
    /// Nothing now.
    Empty,
    /// Every handle is gone.
    Disconnected,
}

/// One turn's commands: retries the command `driver` kept, then applies what `take` yields,
/// at most `limit` commands, until the channel is empty, every handle is gone
/// ([`Driver::abandoned`]) or the driver keeps one (its core's outbox is full). Returns how many
/// were taken, and whether the limit stopped it (then more may wait: wake the loop again).
pub fn apply_commands<D: Driver>(
    driver: &mut D,
    now: crate::Instant,
    limit: usize,
    mut take: impl FnMut() -> Taken<D::Command>,
) -> (usize, bool) {
    if !driver.retry(now) {
        return (0, false);
    }
    for taken in 0..limit {
        match take() {
            Taken::Command(command) => {
                if !driver.apply(now, command) {
                    return (taken + 1, false);
                }
            }
            Taken::Empty => return (taken, false),
            Taken::Disconnected => {
                driver.abandoned(now);
                return (taken, false);
            }
        }
    }
    (limit, true)
}

/// The channels of the drivers' unit tests: `sync_channel`s and condition variables.
#[cfg(test)]
pub(super) mod test_channels {
    use std::sync::Condvar;
    use std::sync::mpsc::SyncSender;

    use super::Channels;

    /// Answers and events on `sync_channel`s.
    pub(in crate::adapter) struct Test;

    impl Channels for Test {
        type Reply<T: Send + 'static> = SyncSender<T>;
        type Events<T: Send + 'static> = SyncSender<T>;
        type Payload = Vec<u8>;
        type Wake = Condvar;

        fn answer<T: Send + 'static>(reply: SyncSender<T>, value: T) -> bool {
            reply.try_send(value).is_ok()
        }

        fn emit<T: Send + 'static>(events: &SyncSender<T>, event: T) {
            let _ = events.try_send(event);
        }
    }
}
