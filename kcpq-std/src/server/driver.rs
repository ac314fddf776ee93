//! The server's I/O thread: answers handles' queries, applies the owner's publishes,
//! subscriptions and requests, routes their messages and replies, and stops the core.

use std::sync::Arc;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::adapter::ServerEvent;
use kcpq_core::adapter::SessionInfo;
use kcpq_core::adapter::{OwnerBook, OwnerRouted};
use kcpq_core::server::{Server as Core, ServerEvent as CoreEvent, ServerStats};

use super::error::{ServerPublishError, ServerRequestError, ServerSubscribeError};
use crate::driver::Driven;
use crate::events::EventSink;
use crate::link::{Commands, Deadline, Link, LinkError, Reply, Taken, answer};
use crate::message::Message;
use crate::subscription::{Control, Filled, Inbox};

/// What server handles ask of the I/O thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// `Server::sessions`.
    Sessions(Reply<Vec<SessionInfo>>),
    /// `Server::stats`.
    Stats(Reply<ServerStats>),
    /// `Server::shutdown`: CLOSE to every session, stop once acknowledged (or the core's
    /// `shutdown_linger` has passed).
    Shutdown { reply: Option<Reply<()>> },
    /// `Server::drain`: deliver what is queued (at most `timeout`), then shut down.
    Drain { timeout: Duration, reply: Reply<()> },
    /// `Server::publish` and friends: to everyone, or to the client named `to`.
    Publish {
        to: Option<String>,
        subject: String,
        reply: Option<String>,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
        answer: Reply<Result<(), ServerPublishError>>,
    },
    /// `Server::subscribe` and friends.
    Subscribe {
        filter: String,
        queue: Option<String>,
        inbox: Arc<Inbox>,
        reply: Reply<Result<u32, ServerSubscribeError>>,
    },
    /// `Subscription::unsubscribe` (now, or after a count) of an owner subscription.
    Unsubscribe { sid: u32, after: Option<u64> },
    /// `Server::request` and friends; answered with the reply or the failure.
    Request {
        to: Option<String>,
        subject: String,
        headers: Option<Vec<u8>>,
        payload: Vec<u8>,
        timeout: Duration,
        reply: Reply<Result<Message, ServerRequestError>>,
    },
}

/// The reason sent to clients in CLOSE at shutdown.
const SHUTDOWN_REASON: &str = "server shutting down";

/// Where an owner's request waits for its reply.
type RequestReply = Reply<Result<Message, ServerRequestError>>;

/// The core server, the owner's subscriptions and requests, and the shutdown state.
pub(crate) struct ServerDriver {
    core: Core,
    commands: Commands<Command>,
    events: EventSink<ServerEvent>,
    /// The owner's subscriptions and requests.
    owner: OwnerBook<Filled, RequestReply>,
    waiters: Vec<Reply<()>>,
    finished: bool,
    /// The wall-clock time of the core's zero, for [`SessionInfo`].
    wall_epoch: std::time::SystemTime,
}

impl ServerDriver {
    pub(crate) fn new(
        core: Core,
        commands: Commands<Command>,
        events: EventSink<ServerEvent>,
        wall_epoch: std::time::SystemTime,
    ) -> Self {
        ServerDriver {
            core,
            commands,
            events,
            owner: OwnerBook::default(),
            waiters: Vec::new(),
            finished: false,
            wall_epoch,
        }
    }

    fn shut_down(&mut self, now: Instant) {
        if !self.core.is_stopping() {
            self.core.shutdown(now, SHUTDOWN_REASON);
        }
    }

    fn apply(&mut self, now: Instant, command: Command) {
        match command {
            Command::Sessions(reply) => {
                let sessions = self.core.sessions().into_iter();
                let epoch = self.wall_epoch;
                answer(
                    reply,
                    sessions.map(|s| SessionInfo::new(s, epoch)).collect(),
                );
            }
            Command::Stats(reply) => answer(reply, self.core.stats()),
            Command::Shutdown { reply } => {
                self.waiters.extend(reply);
                self.shut_down(now);
            }
            Command::Drain { timeout, reply } => {
                self.waiters.push(reply);
                if !self.core.is_stopping() {
                    self.core.drain(now, timeout);
                }
            }
            Command::Publish {
                to,
                subject,
                reply,
                headers,
                payload,
                answer: to_handle,
            } => {
                let result = OwnerBook::<Filled, RequestReply>::publish(
                    &mut self.core,
                    to.as_deref(),
                    &subject,
                    reply.as_deref(),
                    headers.as_deref(),
                    &payload,
                );
                answer(to_handle, result);
            }
            Command::Subscribe {
                filter,
                queue,
                inbox,
                reply,
            } => {
                let inbox = Filled(inbox);
                let core = &mut self.core;
                let result = (self.owner).subscribe(core, &filter, queue.as_deref(), inbox);
                answer(reply, result);
            }
            Command::Unsubscribe { sid, after } => {
                self.owner.unsubscribe(&mut self.core, sid, after)
            }
            Command::Request {
                to,
                subject,
                headers,
                payload,
                timeout,
                reply,
            } => {
                let (core, to, headers) = (&mut self.core, to.as_deref(), headers.as_deref());
                let sent = (self.owner)
                    .request(core, now, to, &subject, headers, &payload, timeout, reply);
                if let Err((reply, error)) = sent {
                    answer(reply, Err(error));
                }
            }
        }
    }

    /// Routes one event: the owner's messages and replies to their handles, the rest to the
    /// event stream.
    fn on_event(&mut self, event: CoreEvent) {
        match (self.owner).route(&mut self.core, event, std::time::Instant::now()) {
            OwnerRouted::Reply(reply, result) => {
                let received = std::time::Instant::now();
                answer(reply, result.map(|m| Message::from_core(m, received)));
            }
            OwnerRouted::SlowConsumer(sid) => {
                // The owner's own subscription: a session without a name.
                let name = String::new();
                self.events.push(ServerEvent::SlowConsumer { name, sid });
            }
            OwnerRouted::Other(other) => {
                if let Some(event) = ServerEvent::from_core(other) {
                    self.events.push(event);
                }
            }
            OwnerRouted::Nobody => {}
        }
    }

    /// The core has shut down: end every stream and answer everyone still waiting.
    fn finish(&mut self) {
        self.finished = true;
        for reply in self.owner.finish() {
            answer(reply, Err(ServerRequestError::Stopped));
        }
        for reply in self.waiters.drain(..) {
            answer(reply, ());
        }
    }
}

impl Driven for ServerDriver {
    type Machine = kcpq_core::server::Server;

    fn machine(&mut self) -> &mut kcpq_core::server::Server {
        &mut self.core
    }

    fn commands(&mut self, now: Instant) {
        self.commands.rearm();
        let mut taken = false;
        loop {
            match self.commands.take() {
                Taken::Command(command) => {
                    taken = true;
                    self.apply(now, command);
                }
                Taken::Empty => break,
                Taken::Disconnected => {
                    self.shut_down(now);
                    break;
                }
            }
        }
        if taken {
            self.commands.made_room();
        }
    }

    fn on_event(&mut self, event: CoreEvent) -> bool {
        ServerDriver::on_event(self, event);
        // Withdrawing an owner subscription only edits the index: no output to drain again.
        false
    }

    fn after_drain(&mut self) {
        if self.core.is_shut_down() && !self.finished {
            self.finish();
        }
    }

    fn finished(&self) -> bool {
        self.finished
    }
}

/// The server owner's subscriptions ask its I/O thread through its command link.
impl Control for Link<Command> {
    fn unsubscribe(
        &self,
        sid: u32,
        after: Option<u64>,
        deadline: Deadline,
    ) -> Result<(), LinkError> {
        self.send(Command::Unsubscribe { sid, after }, deadline)
    }

    fn try_unsubscribe(&self, sid: u32) {
        let _ = self.try_send(Command::Unsubscribe { sid, after: None });
    }
}
