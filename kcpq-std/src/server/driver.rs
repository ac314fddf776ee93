//! The server's I/O thread: answers handles' queries, applies the owner's publishes,
//! subscriptions and requests, routes their messages and replies, and stops the core.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::client::RequestId;
use kcpq_core::server::{
    Server as Core, ServerEvent, ServerPublishError as CorePublishError, ServerStats,
    ServerSubscribeError as CoreSubscribeError, SessionInfo,
};

use super::error::ServerRequestError;
use crate::driver::Driven;
use crate::events::EventSink;
use crate::link::{Commands, Deadline, Link, LinkError, Reply, Taken, answer};
use crate::message::Message;
use crate::subscription::{Control, Inbox};

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
        answer: Reply<Result<(), CorePublishError>>,
    },
    /// `Server::subscribe` and friends.
    Subscribe {
        filter: String,
        queue: Option<String>,
        inbox: Arc<Inbox>,
        reply: Reply<Result<u32, CoreSubscribeError>>,
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

/// One of the owner's subscriptions.
#[derive(Debug)]
struct OwnerSub {
    inbox: Arc<Inbox>,
    remaining: Option<u64>,
}

/// The core server, the owner's subscriptions and requests, and the shutdown state.
pub(crate) struct ServerDriver {
    core: Core,
    commands: Commands<Command>,
    events: EventSink<ServerEvent>,
    subs: HashMap<u32, OwnerSub>,
    /// The owner's requests waiting for a reply, with their timeout.
    requests: HashMap<RequestId, (Duration, Reply<Result<Message, ServerRequestError>>)>,
    waiters: Vec<Reply<()>>,
    finished: bool,
}

impl ServerDriver {
    pub(crate) fn new(
        core: Core,
        commands: Commands<Command>,
        events: EventSink<ServerEvent>,
    ) -> Self {
        ServerDriver {
            core,
            commands,
            events,
            subs: HashMap::new(),
            requests: HashMap::new(),
            waiters: Vec::new(),
            finished: false,
        }
    }

    fn shut_down(&mut self, now: Instant) {
        if !self.core.is_stopping() {
            self.core.shutdown(now, SHUTDOWN_REASON);
        }
    }

    fn apply(&mut self, now: Instant, command: Command) {
        match command {
            Command::Sessions(reply) => answer(reply, self.core.sessions()),
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
                let result = match to {
                    None => {
                        self.core
                            .publish(&subject, reply.as_deref(), headers.as_deref(), &payload)
                    }
                    Some(name) => self.core.publish_to(
                        &name,
                        &subject,
                        reply.as_deref(),
                        headers.as_deref(),
                        &payload,
                    ),
                };
                answer(to_handle, result);
            }
            Command::Subscribe {
                filter,
                queue,
                inbox,
                reply,
            } => {
                let result = self.core.subscribe(&filter, queue.as_deref());
                if let Ok(sid) = result {
                    self.subs.insert(
                        sid,
                        OwnerSub {
                            inbox,
                            remaining: None,
                        },
                    );
                }
                answer(reply, result);
            }
            Command::Unsubscribe { sid, after } => match after {
                Some(n) => {
                    if let Some(entry) = self.subs.get_mut(&sid) {
                        entry.remaining = Some(n);
                    }
                }
                None => self.withdraw(sid),
            },
            Command::Request {
                to,
                subject,
                headers,
                payload,
                timeout,
                reply,
            } => match self.core.request(
                now,
                to.as_deref(),
                &subject,
                headers.as_deref(),
                &payload,
                timeout,
            ) {
                Ok(id) => {
                    self.requests.insert(id, (timeout, reply));
                }
                Err(e) => answer(reply, Err(ServerRequestError::Refused(e))),
            },
        }
    }

    /// Ends an owner subscription on both sides.
    fn withdraw(&mut self, sid: u32) {
        if let Some(entry) = self.subs.remove(&sid) {
            entry.inbox.close();
        }
        let _ = self.core.unsubscribe(sid);
    }

    /// Routes one event: the owner's messages and replies to their handles, the rest to the
    /// event stream.
    fn on_event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::Message(m) => self.deliver(m),
            ServerEvent::Reply(id, m) => {
                if let Some((_, reply)) = self.requests.remove(&id) {
                    answer(reply, Ok(Message::from_core(m, std::time::Instant::now())));
                }
            }
            ServerEvent::RequestFailed(id, failure) => {
                if let Some((timeout, reply)) = self.requests.remove(&id) {
                    answer(
                        reply,
                        Err(ServerRequestError::from_failure(failure, timeout)),
                    );
                }
            }
            other => self.events.push(other),
        }
    }

    /// Puts a message into its owner subscription's queue.
    fn deliver(&mut self, m: kcpq_core::client::Message) {
        let sid = m.sid;
        let Some(entry) = self.subs.get_mut(&sid) else {
            return;
        };
        match entry
            .inbox
            .push(Message::from_core(m, std::time::Instant::now()))
        {
            // The handle is gone.
            None => return self.withdraw(sid),
            Some(outcome) if outcome.first_of_burst() => {
                self.events.push(ServerEvent::SlowConsumer {
                    name: String::new(),
                    sid,
                });
            }
            Some(_) => {}
        }
        if let Some(n) = &mut entry.remaining {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.withdraw(sid);
            }
        }
    }

    /// The core has shut down: end every stream and answer everyone still waiting.
    fn finish(&mut self) {
        self.finished = true;
        for (_, entry) in self.subs.drain() {
            entry.inbox.close();
        }
        for (_, (_, reply)) in self.requests.drain() {
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

    fn on_event(&mut self, event: ServerEvent) -> bool {
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
