//! The client's I/O thread: applies handles' commands to the core and routes its events to
//! subscriptions, waiting requests and the event stream.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use kcpq_core::adapter::{ClientBook, ClientRouted, Routed};
use kcpq_core::client::{
    Client as Core, ClientEvent, FlushError as CoreFlushError, PublishError as CorePublishError,
    Sid,
};
use kcpq_core::{CloseReason, Instant};

use super::command::Command;
use super::error::{ConnectError, FlushError, RequestError, SubscribeError};
use super::event::Event;
use crate::driver::Driven;
use crate::events::EventSink;
use crate::link::{Commands, Reply, Taken, answer};
use crate::message::Message;
use crate::subscription::Filled;

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

/// What `connect` waits for: the server's name and this client's name, or why not.
pub(crate) type ConnectOutcome = Result<(String, String), ConnectError>;

/// The core client and everything waiting on it.
pub(crate) struct ClientDriver {
    core: Core,
    commands: Commands<Command>,
    parked: Option<Command>,
    /// The subscriptions' inboxes, the callers waiting for the core, the first connect.
    book: ClientBook<Filled, RequestReply, FlushReply, SubscribeReply>,
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
            book: ClientBook::default(),
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
            } => {
                let (core, inbox) = (&mut self.core, Filled(inbox));
                if let Err((reply, error)) =
                    (self.book).subscribe(core, &filter, &options, inbox, reply)
                {
                    answer(reply, Err(error));
                }
            }
            // With a count, the core ends the subscription itself (`Unsubscribed`).
            Command::Unsubscribe { sid, after } => {
                if let Some(reply) = self.book.unsubscribe(&mut self.core, sid, after) {
                    answer(reply, Err(SubscribeError::Closed));
                }
            }
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
                    self.book.waiters().request(id, timeout, reply);
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
                    self.book.waiters().flush(id, timeout, reply);
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

    /// Routes one event; returns whether the core's API was called.
    fn on_event(&mut self, event: ClientEvent) -> bool {
        match (self.book).route(&mut self.core, event, std::time::Instant::now()) {
            ClientRouted::Answer(Routed::Subscribe(reply, sid, result)) => {
                let answered = result.is_ok();
                answer(reply, result.map(|()| sid));
                if answered {
                    self.book.confirmed(&mut self.core, sid, true);
                }
            }
            ClientRouted::Answer(routed) => answer_waiter(routed),
            ClientRouted::Connected {
                server_name,
                client_name,
            } => {
                self.learn_limits();
                if let Some(reply) = self.connect.take() {
                    answer(reply, Ok((server_name, client_name)));
                }
            }
            ClientRouted::ConnectFailed(error) => {
                if let Some(reply) = self.connect.take() {
                    answer(reply, Err(error));
                }
            }
            ClientRouted::Emit(event) => {
                if matches!(event, Event::Reconnected { .. }) {
                    self.learn_limits();
                }
                self.events.push(event);
            }
            ClientRouted::Nobody => {}
        }
        self.book.take_core_called()
    }

    /// Publishes the server's payload limit to the handles, which check it.
    fn learn_limits(&self) {
        (self.shared.max_payload).store(self.core.max_payload(), Ordering::Relaxed);
    }

    /// The core is closed for good: end every stream and answer everyone still waiting.
    fn finish(&mut self) {
        self.finished = true;
        self.book.finish().for_each(answer_waiter);
        if let Some(reply) = self.connect.take() {
            answer(reply, Err(ConnectError::Disconnected(CloseReason::Local)));
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
