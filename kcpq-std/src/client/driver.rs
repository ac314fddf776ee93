//! The client's I/O thread: applies handles' commands to the core and routes its events to
//! subscriptions, waiting requests and the event stream.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kcpq_core::adapter::{Routed, Waiters};
use kcpq_core::client::{
    Client as Core, ClientEvent, FlushError as CoreFlushError, PublishError as CorePublishError,
    Sid, SubscribeError as CoreSubscribeError,
};
use kcpq_core::crypto::HandshakeError;
use kcpq_core::{CloseReason, Instant};

use super::command::Command;
use super::error::{FlushError, RequestError, SubscribeError};
use super::event::Event;
use crate::driver::Driven;
use crate::events::EventSink;
use crate::link::{Commands, Reply, Taken, answer};
use crate::message::Message;
use crate::subscription::Inbox;

/// Commands taken per loop turn before the I/O thread serves the network again.
const MAX_COMMANDS_PER_TURN: usize = 4096;

/// State the handles read without a round trip.
#[derive(Debug)]
pub(crate) struct Shared {
    /// The server's payload limit (from INFO).
    pub(crate) max_payload: AtomicUsize,
    /// Turns of the I/O loop so far.
    pub(crate) turns: AtomicU64,
}

/// Who the first `Connected` or failure goes to.
#[derive(Debug)]
pub(crate) enum ConnectOutcome {
    /// Ready: the server's name and this client's name.
    Connected(String, String),
    /// The handshake failed.
    Handshake(HandshakeError),
    /// The session ended before it was ready.
    Disconnected(CloseReason),
}

#[derive(Debug)]
struct SubEntry {
    inbox: Arc<Inbox>,
}

/// The core client and everything waiting on it.
pub(crate) struct ClientDriver {
    core: Core,
    commands: Commands<Command>,
    parked: Option<Command>,
    subs: HashMap<Sid, SubEntry>,
    /// Requests, flushes and subscribes waiting for the core's answer.
    waiters: Waiters<RequestReply, FlushReply, SubscribeReply>,
    connect: Option<Reply<ConnectOutcome>>,
    close_waiters: Vec<Reply<()>>,
    /// A dropped client's last handle, waiting for its CLOSE to be sent.
    close_sent: Option<std::sync::mpsc::SyncSender<()>>,
    closing: bool,
    events: EventSink<Event>,
    shared: Arc<Shared>,
    finished: bool,
}

impl ClientDriver {
    pub(crate) fn new(
        core: Core,
        commands: Commands<Command>,
        connect: Reply<ConnectOutcome>,
        events: EventSink<Event>,
        shared: Arc<Shared>,
    ) -> Self {
        ClientDriver {
            core,
            commands,
            parked: None,
            subs: HashMap::new(),
            waiters: Waiters::default(),
            connect: Some(connect),
            close_waiters: Vec::new(),
            close_sent: None,
            closing: false,
            events,
            shared,
            finished: false,
        }
    }

    /// Applies one command; gives it back if the core's outbox is full (it is retried after
    /// the next turn, and no further command is taken meanwhile: back-pressure).
    fn apply(&mut self, now: Instant, command: Command) -> Result<(), Command> {
        match command {
            Command::Publish {
                subject,
                reply,
                headers,
                payload,
            } => match self
                .core
                .publish(&subject, reply.as_deref(), headers.as_deref(), &payload)
            {
                Ok(()) | Err(CorePublishError::Closed) => {}
                Err(CorePublishError::BufferFull { .. }) => {
                    return Err(Command::Publish {
                        subject,
                        reply,
                        headers,
                        payload,
                    });
                }
                Err(error) => self.events.push(Event::PublishFailed { subject, error }),
            },
            Command::Subscribe {
                filter,
                options,
                inbox,
                reply,
            } => match self.core.subscribe_with(&filter, &options) {
                Ok(sid) => {
                    self.subs.insert(sid, SubEntry { inbox });
                    self.waiters.subscribe(sid, reply);
                }
                Err(CoreSubscribeError::Closed) => answer(reply, Err(SubscribeError::Closed)),
                Err(e) => answer(reply, Err(SubscribeError::Invalid(e))),
            },
            // With a count, the core ends the subscription itself (`Unsubscribed`).
            Command::Unsubscribe { sid, after } => match self.core.unsubscribe(sid, after) {
                Ok(()) if after.is_some() => {}
                _ => self.forget(sid),
            },
            Command::Request {
                subject,
                headers,
                payload,
                timeout,
                reply,
            } => match self
                .core
                .request(now, &subject, headers.as_deref(), &payload, timeout)
            {
                Ok(id) => {
                    self.waiters.request(id, timeout, reply);
                }
                Err(CorePublishError::BufferFull { .. }) => {
                    return Err(Command::Request {
                        subject,
                        headers,
                        payload,
                        timeout,
                        reply,
                    });
                }
                Err(CorePublishError::Closed) => answer(reply, Err(RequestError::Closed)),
                Err(e) => answer(reply, Err(RequestError::Invalid(e))),
            },
            Command::Flush { timeout, reply } => match self.core.flush(now, timeout) {
                Ok(id) => {
                    self.waiters.flush(id, timeout, reply);
                }
                Err(CoreFlushError::BufferFull) => return Err(Command::Flush { timeout, reply }),
                Err(CoreFlushError::Closed) => answer(reply, Err(FlushError::Closed)),
                Err(e) => answer(reply, Err(FlushError::Invalid(e))),
            },
            Command::Emit(event) => self.events.push(*event),
            Command::Close { reply } => {
                self.core.close(now);
                self.closing = true;
                self.close_waiters.extend(reply);
            }
            Command::Dropped { sent } => {
                self.core.close(now);
                self.closing = true;
                self.close_sent = Some(sent);
            }
            Command::Drain { timeout, reply } => {
                // Refused only when already draining or closing: that ends the same way.
                let _ = self.core.drain(now, timeout);
                self.closing = true;
                self.close_waiters.push(reply);
            }
        }
        Ok(())
    }

    /// Drops a subscription on this side and ends its stream.
    fn forget(&mut self, sid: Sid) {
        if let Some(entry) = self.subs.remove(&sid) {
            entry.inbox.close();
        }
        if let Some(reply) = self.waiters.cancel_subscribe(sid) {
            answer(reply, Err(SubscribeError::Closed));
        }
    }

    /// Routes one event; returns whether the core's API was called.
    fn on_event(&mut self, event: ClientEvent) -> bool {
        let event = match self.waiters.route(event) {
            Routed::Other(event) => event,
            Routed::Subscribe(reply, sid, result) => return self.confirmed(reply, sid, result),
            routed => {
                answer_waiter(routed);
                return false;
            }
        };
        match event {
            ClientEvent::Message(m) => return self.deliver(m),
            // The count of `unsubscribe_after` was reached: the queue ends after what it holds.
            ClientEvent::Unsubscribed(sid) => self.forget(sid),
            ClientEvent::Connected {
                server_name,
                client_name,
            } => {
                self.shared
                    .max_payload
                    .store(self.core.max_payload(), Ordering::Relaxed);
                if let Some(reply) = self.connect.take() {
                    let outcome =
                        ConnectOutcome::Connected(server_name.clone(), client_name.clone());
                    answer(reply, outcome);
                }
            }
            ClientEvent::ConnectFailed(error) => {
                if let Some(reply) = self.connect.take() {
                    answer(reply, ConnectOutcome::Handshake(error));
                }
            }
            ClientEvent::Disconnected(reason) => {
                if let Some(reply) = self.connect.take() {
                    answer(reply, ConnectOutcome::Disconnected(reason.clone()));
                }
                self.events.push(Event::Disconnected(reason));
            }
            ClientEvent::Reconnected {
                server_name,
                client_name,
            } => {
                self.shared
                    .max_payload
                    .store(self.core.max_payload(), Ordering::Relaxed);
                self.events.push(Event::Reconnected {
                    server_name,
                    client_name,
                });
            }
            // Reported by `finish` once the core says it is closed.
            ClientEvent::Closed => {}
            // Nobody waits for these (any more).
            ClientEvent::Subscribed(sid) => return self.confirmed_unattended(sid),
            ClientEvent::SubscribeFailed(sid, error) => {
                self.end_refused(sid);
                self.events.push(Event::SubscriptionFailed { sid, error });
            }
            ClientEvent::SlowConsumer { sid } => {
                let dropped = self.core.stats().dropped_slow_consumer;
                self.events.push(Event::SlowConsumer { sid, dropped });
            }
            ClientEvent::ServerError(error) => self.events.push(Event::ServerError(error)),
            other => log::debug!("client event not handled by kcpq-std: {other:?}"),
        }
        false
    }

    /// The server's answer to a waiting subscribe; returns whether the core's API was called.
    fn confirmed(
        &mut self,
        reply: SubscribeReply,
        sid: Sid,
        result: Result<(), SubscribeError>,
    ) -> bool {
        if result.is_err() {
            self.end_refused(sid);
        }
        answer(reply, result.map(|()| sid));
        self.confirmed_unattended(sid)
    }

    /// A confirmed subscription whose handle is already gone is withdrawn; returns whether the
    /// core's API was called.
    fn confirmed_unattended(&mut self, sid: Sid) -> bool {
        if self.subs.get(&sid).is_some_and(|e| e.inbox.is_closed()) {
            return self.withdraw(sid);
        }
        false
    }

    /// The server refused `sid`: its stream ends.
    fn end_refused(&mut self, sid: Sid) {
        if let Some(entry) = self.subs.remove(&sid) {
            entry.inbox.close();
        }
    }

    /// Puts a message into its subscription's queue; returns whether the core's API was called.
    fn deliver(&mut self, m: kcpq_core::client::Message) -> bool {
        let sid = m.sid;
        let Some(entry) = self.subs.get_mut(&sid) else {
            return false;
        };
        let message = Message::from_core(m, std::time::Instant::now());
        match entry.inbox.push(message) {
            None => return self.withdraw(sid),
            Some(outcome) if outcome.first_of_burst() => {
                let dropped = entry.inbox.dropped();
                self.events.push(Event::SlowConsumer { sid, dropped });
            }
            Some(_) => {}
        }
        false
    }

    /// Unsubscribes a subscription whose handle is gone.
    fn withdraw(&mut self, sid: Sid) -> bool {
        self.forget(sid);
        let _ = self.core.unsubscribe(sid, None);
        true
    }

    /// The core is closed for good: end every stream and answer everyone still waiting.
    fn finish(&mut self) {
        self.finished = true;
        for (_, entry) in self.subs.drain() {
            entry.inbox.close();
        }
        self.waiters.close().for_each(answer_waiter);
        if let Some(reply) = self.connect.take() {
            answer(reply, ConnectOutcome::Disconnected(CloseReason::Local));
        }
        for reply in self.close_waiters.drain(..) {
            answer(reply, ());
        }
        self.events.push(Event::Closed);
    }
}

impl Driven for ClientDriver {
    type Machine = kcpq_core::client::Client;

    fn machine(&mut self) -> &mut kcpq_core::client::Client {
        &mut self.core
    }

    fn commands(&mut self, now: Instant) {
        self.commands.rearm();
        if let Some(command) = self.parked.take()
            && let Err(back) = self.apply(now, command)
        {
            self.parked = Some(back);
            return;
        }
        let mut taken = 0;
        loop {
            if taken == MAX_COMMANDS_PER_TURN {
                self.commands.wake();
                break;
            }
            match self.commands.take() {
                Taken::Command(command) => {
                    taken += 1;
                    if let Err(back) = self.apply(now, command) {
                        self.parked = Some(back);
                        break;
                    }
                }
                Taken::Empty => break,
                Taken::Disconnected => {
                    if !self.closing {
                        self.closing = true;
                        self.core.close(now);
                    }
                    break;
                }
            }
        }
        if taken > 0 {
            self.commands.made_room();
        }
    }

    fn on_event(&mut self, event: ClientEvent) -> bool {
        ClientDriver::on_event(self, event)
    }

    fn after_drain(&mut self) {
        // The output, the CLOSE of a dropped client included, was sent just before this call.
        if let Some(sent) = self.close_sent.take() {
            let _ = sent.try_send(());
        }
        if self.core.is_closed() && !self.finished {
            self.finish();
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }
}

/// Where a request's caller waits.
type RequestReply = Reply<Result<Message, RequestError>>;

/// Where a flush's caller waits.
type FlushReply = Reply<Result<(), FlushError>>;

/// Where a subscribe's caller waits.
type SubscribeReply = Reply<Result<Sid, SubscribeError>>;

/// Wakes a waiting request, flush or subscribe with its outcome.
fn answer_waiter(routed: Routed<RequestReply, FlushReply, SubscribeReply>) {
    match routed {
        Routed::Request(reply, result) => {
            let received = std::time::Instant::now();
            answer(reply, result.map(|m| Message::from_core(m, received)));
        }
        Routed::Flush(reply, result) => answer(reply, result),
        Routed::Subscribe(reply, sid, result) => answer(reply, result.map(|()| sid)),
        Routed::Other(_) | Routed::Nobody => {}
    }
}
