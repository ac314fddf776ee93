//! The client's driver task: it owns the core [`Client`](kcpq_core::client::Client), turns API
//! commands into core calls and core events into answers, messages and [`Event`]s.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_channel::Sender;
use bytes::Bytes;
use kcpq_core::adapter::{ClientBook, ClientRouted, DriverThread, Routed, SubscriptionQueues};
use kcpq_core::client::{
    Client as Core, ClientEvent, ClientStats, PublishError as CorePublishError, Sid,
    SubscribeOptions,
};
use kcpq_core::{CloseReason, Instant};

use super::error::{
    ConnectError, DrainError, FlushError, PublishError, RequestError, SubscribeError,
};
use super::{Connected, Event};
use crate::event_loop::Owner;
use crate::inbox::SubQueue;
use crate::message::Message;
use kcpq_core::queue::{OverflowPolicy, QueueLimits};
use kcpq_os::Clock;

/// The answer channel of one command (capacity one, used once).
pub(crate) type Reply<T> = Sender<T>;

/// Where a request's caller waits.
type RequestReply = Reply<Result<Message, RequestError>>;

/// Where a flush's caller waits.
type FlushReply = Reply<Result<(), FlushError>>;

/// Where a subscribe's caller waits: for the subscription and its queue.
type SubscribeReply = Reply<Result<(Sid, SubQueue), SubscribeError>>;

/// The driver's side of a dropped client's wait: told once the CLOSE was handed to the socket.
type CloseSent = std::sync::mpsc::SyncSender<()>;

/// What API handles ask of the driver.
///
/// The command queue allocates and touches all of its slots when the client is made, so the
/// size of this enum, times the queue's capacity, is memory every client holds. The frequent
/// commands (`Send`, `Request`) stay inline with boxed strings; the rarer, larger ones are
/// boxed. A unit test keeps it at 72 bytes.
pub(crate) enum Command {
    /// An event found outside the driver (a callback that ran too long), for `events()`.
    Emit(Box<Event>),
    /// A publish with headers or one the caller waits for.
    Publish(Box<Publish>),
    /// A publish nobody waits for (checked on the caller's side); parked while the outbox is
    /// full, which stops the driver taking commands until it drains.
    Send(Send),
    Request {
        subject: Box<str>,
        payload: Bytes,
        timeout: Duration,
        done: Reply<Result<Message, RequestError>>,
    },
    /// A request with headers (rarer, so boxed).
    HeadedRequest(Box<HeadedRequest>),
    Subscribe(Box<Subscribe>),
    Unsubscribe {
        sid: Sid,
    },
    /// Ends the subscription after `count` more messages; its stream ends after the last.
    UnsubscribeAfter {
        sid: Sid,
        count: u64,
    },
    Flush {
        timeout: Duration,
        done: Reply<Result<(), FlushError>>,
    },
    Stats {
        done: Reply<ClientStats>,
    },
    Close {
        done: Reply<()>,
    },
    /// The last `Client` handle was dropped: close, and report once the CLOSE is sent.
    Dropped {
        sent: CloseSent,
    },
    /// Answered at once when the core refuses, else once the client has closed.
    Drain {
        timeout: Duration,
        done: Reply<Result<(), DrainError>>,
    },
}

/// A publish whose outcome the caller awaits.
pub(crate) struct Publish {
    pub(crate) subject: String,
    pub(crate) reply: Option<String>,
    pub(crate) headers: Option<Vec<u8>>,
    pub(crate) payload: Bytes,
    pub(crate) done: Reply<Result<(), PublishError>>,
}

/// A publish that needs no answer.
pub(crate) struct Send {
    pub(crate) subject: Box<str>,
    pub(crate) reply: Option<Box<str>>,
    pub(crate) payload: Bytes,
}

/// A request carrying headers (an encoded block, checked on the caller's side).
pub(crate) struct HeadedRequest {
    pub(crate) subject: Box<str>,
    pub(crate) headers: Option<Vec<u8>>,
    pub(crate) payload: Bytes,
    pub(crate) timeout: Duration,
    pub(crate) done: Reply<Result<Message, RequestError>>,
}

/// A subscription to make, answered once the server confirmed it.
pub(crate) struct Subscribe {
    pub(crate) filter: String,
    pub(crate) options: SubscribeOptions,
    pub(crate) done: SubscribeReply,
}

/// The state the driver task owns.
pub(crate) struct Driver {
    pub(crate) core: Core,
    clock: Clock,
    /// The subscriptions' inboxes, the callers waiting for the core, the first connect.
    book: ClientBook<SubQueue, RequestReply, FlushReply, SubscribeReply>,
    connect: Option<Reply<Result<Connected, ConnectError>>>,
    events: Sender<Event>,
    closers: Vec<Reply<()>>,
    /// Callers of a drain the core accepted, answered once the client has closed.
    drainers: Vec<Reply<Result<(), DrainError>>>,
    /// The configured bound and policy of subscriptions that do not choose their own.
    default_queue: (QueueLimits, OverflowPolicy),
    /// A [`Command::Send`] the full outbox refused, retried before any further command.
    parked: Option<Send>,
    /// The server's payload limit, shared with the API handles that check it.
    max_payload: Arc<AtomicUsize>,
    /// Where the driver runs, for a dropping handle to know whether it may wait.
    thread: DriverThread,
    /// A dropped handle waiting for the CLOSE to be sent.
    close_sent: Option<CloseSent>,
}

impl Driver {
    pub(crate) fn new(
        core: Core,
        default_queue: (QueueLimits, OverflowPolicy),
        clock: Clock,
        connect: Reply<Result<Connected, ConnectError>>,
        events: Sender<Event>,
        max_payload: Arc<AtomicUsize>,
        thread: DriverThread,
    ) -> Driver {
        Driver {
            core,
            clock,
            book: ClientBook::default(),
            connect: Some(connect),
            events,
            closers: Vec::new(),
            drainers: Vec::new(),
            default_queue,
            parked: None,
            max_payload,
            thread,
            close_sent: None,
        }
    }

    fn emit(&self, event: Event) {
        if self.events.try_send(event).is_err() {
            log::debug!("client event dropped: nobody reads events() or its queue is full");
        }
    }

    /// Wakes a waiting request, flush or subscribe with its outcome.
    fn answer(&mut self, now: Instant, routed: Routed<RequestReply, FlushReply, SubscribeReply>) {
        match routed {
            Routed::Request(done, result) => {
                let received = self.clock.std_instant(now);
                let _ = done.try_send(result.map(|m| Message::from_core(m, received)));
            }
            Routed::Flush(done, result) => {
                let _ = done.try_send(result);
            }
            Routed::Subscribe(done, sid, Ok(())) => {
                // A caller that stopped waiting (timeout, dropped future) takes no answer: the
                // subscription is undone.
                let answered = match self.book.inbox(sid).cloned() {
                    Some(queue) => done.try_send(Ok((sid, queue))).is_ok(),
                    None => false,
                };
                self.book.confirmed(&mut self.core, sid, answered);
            }
            Routed::Subscribe(done, _, Err(error)) => {
                let _ = done.try_send(Err(error));
            }
            Routed::Other(_) | Routed::Nobody => {}
        }
    }

    /// Everything ended: answers whatever still waits.
    pub(crate) fn finish(mut self) {
        let now = self.clock.now();
        let answers: Vec<_> = self.book.finish().collect();
        for routed in answers {
            self.answer(now, routed);
        }
        if let Some(connect) = self.connect.take() {
            let _ = connect.try_send(Err(ConnectError::Disconnected(CloseReason::Local)));
        }
        self.emit(Event::Closed);
        for closer in self.closers.drain(..) {
            let _ = closer.try_send(());
        }
        for drainer in self.drainers.drain(..) {
            let _ = drainer.try_send(Ok(()));
        }
    }

    /// Hands `send` to the core; keeps it when the outbox is full. True when it was taken.
    fn try_send(&mut self, send: Send) -> bool {
        let result = self
            .core
            .publish(&send.subject, send.reply.as_deref(), None, &send.payload);
        match result {
            Ok(()) => true,
            Err(CorePublishError::BufferFull { .. }) if !self.core.is_closed() => {
                self.parked = Some(send);
                false
            }
            Err(error) => {
                self.emit(Event::PublishFailed {
                    subject: send.subject.to_string(),
                    error,
                });
                true
            }
        }
    }

    fn learn_limits(&self) {
        self.max_payload
            .store(self.core.max_payload(), Ordering::Relaxed);
    }

    /// Hands a request to the core and remembers who waits for its reply.
    fn start_request(
        &mut self,
        now: Instant,
        subject: Box<str>,
        headers: Option<&[u8]>,
        payload: &[u8],
        timeout: Duration,
        done: Reply<Result<Message, RequestError>>,
    ) {
        match self.core.request(now, &subject, headers, payload, timeout) {
            Ok(id) => {
                self.book.waiters().request(id, timeout, done);
            }
            Err(e) => {
                let _ = done.try_send(Err(e.into()));
            }
        }
    }
}

impl Owner for Driver {
    type M = Core;
    type Command = Command;

    fn machine(&mut self) -> &mut Core {
        &mut self.core
    }

    fn on_event(&mut self, now: Instant, event: ClientEvent) {
        let received = self.clock.std_instant(now);
        match self.book.route(&mut self.core, event, received) {
            ClientRouted::Answer(routed) => self.answer(now, routed),
            ClientRouted::Connected {
                server_name,
                client_name,
            } => {
                self.learn_limits();
                if let Some(connect) = self.connect.take() {
                    let _ = connect.try_send(Ok(Connected {
                        server_name,
                        client_name,
                    }));
                }
            }
            ClientRouted::ConnectFailed(error) => {
                if let Some(connect) = self.connect.take() {
                    let _ = connect.try_send(Err(error));
                }
            }
            ClientRouted::Emit(event) => {
                if matches!(event, Event::Reconnected { .. }) {
                    self.learn_limits();
                }
                self.emit(event);
            }
            ClientRouted::Nobody => {}
        }
    }

    fn on_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Publish(publish) => {
                let Publish {
                    subject,
                    reply,
                    headers,
                    payload,
                    done,
                } = *publish;
                let result =
                    self.core
                        .publish(&subject, reply.as_deref(), headers.as_deref(), &payload);
                let _ = done.try_send(result.map_err(PublishError::from));
            }
            Command::Send(send) => {
                self.try_send(send);
            }
            Command::Request {
                subject,
                payload,
                timeout,
                done,
            } => self.start_request(now, subject, None, &payload, timeout, done),
            Command::HeadedRequest(request) => {
                let HeadedRequest {
                    subject,
                    headers,
                    payload,
                    timeout,
                    done,
                } = *request;
                self.start_request(now, subject, headers.as_deref(), &payload, timeout, done);
            }
            Command::Subscribe(subscribe) => {
                let Subscribe {
                    filter,
                    options,
                    done,
                } = *subscribe;
                let (limits, policy) = self.default_queue;
                let queues = SubscriptionQueues::new(options, limits, policy);
                let inbox = SubQueue::new(queues.limits, queues.policy);
                let core = &mut self.core;
                if let Err((done, error)) =
                    (self.book).subscribe(core, &filter, &queues.core, inbox, done)
                {
                    let _ = done.try_send(Err(error));
                }
            }
            Command::Emit(event) => self.emit(*event),
            // A subscribe not yet confirmed is not answered: its caller sees the driver let go.
            Command::Unsubscribe { sid } => drop(self.book.unsubscribe(&mut self.core, sid, None)),
            Command::UnsubscribeAfter { sid, count } => {
                drop(self.book.unsubscribe(&mut self.core, sid, Some(count)));
            }
            Command::Flush { timeout, done } => match self.core.flush(now, timeout) {
                Ok(id) => {
                    self.book.waiters().flush(id, timeout, done);
                }
                Err(e) => {
                    let _ = done.try_send(Err(e.into()));
                }
            },
            Command::Stats { done } => {
                let _ = done.try_send(self.core.stats().clone());
            }
            Command::Close { done } => {
                self.closers.push(done);
                self.core.close(now);
            }
            Command::Dropped { sent } => {
                self.core.close(now);
                self.close_sent = Some(sent);
            }
            Command::Drain { timeout, done } => match self.core.drain(now, timeout) {
                Ok(()) => self.drainers.push(done),
                Err(e) => {
                    let _ = done.try_send(Err(e.into()));
                }
            },
        }
    }

    fn accepts_commands(&mut self, _now: Instant) -> bool {
        match self.parked.take() {
            Some(send) => self.try_send(send),
            None => true,
        }
    }

    fn on_commands_closed(&mut self, now: Instant) {
        self.core.close(now);
    }

    fn after_send(&mut self) {
        self.thread.record();
        if let Some(sent) = self.close_sent.take() {
            let _ = sent.try_send(());
        }
    }

    fn done(&self, _now: Instant) -> bool {
        self.core.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_fits_in_72_bytes() {
        // Every slot of every client's command queue is this big (see `Command`); it was
        // 112 bytes when publishes and subscriptions were stored inline.
        assert!(
            std::mem::size_of::<Command>() <= 72,
            "Command is {} bytes",
            std::mem::size_of::<Command>()
        );
    }
}
