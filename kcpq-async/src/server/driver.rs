//! The server's driver: it owns the core [`Server`](kcpq_core::server::Server), carries out the
//! handles' commands and forwards the core's events.

use std::time::Duration;

use async_channel::Sender;
use bytes::Bytes;
use kcpq_core::Instant;
use kcpq_core::adapter::{OwnerBook, OwnerRouted};
use kcpq_core::client::SubscribeOptions;
use kcpq_core::server::{Server as Core, ServerEvent as CoreEvent, ServerStats};

use super::owner::{ServerPublishError, ServerRequestError, ServerSubscribeError};
use super::{ServerEvent, SessionInfo};
use crate::event_loop::Owner;
use crate::inbox::SubQueue;
use crate::message::Message;
use kcpq_os::Clock;

/// A publish of the owner's.
pub(crate) struct Publish {
    pub(crate) client: Option<String>,
    pub(crate) subject: String,
    pub(crate) reply: Option<String>,
    pub(crate) headers: Option<Vec<u8>>,
    pub(crate) payload: Bytes,
    pub(crate) done: Sender<Result<(), ServerPublishError>>,
}

/// A request of the owner's.
pub(crate) struct Request {
    pub(crate) client: Option<String>,
    pub(crate) subject: String,
    pub(crate) headers: Option<Vec<u8>>,
    pub(crate) payload: Bytes,
    pub(crate) timeout: Duration,
    pub(crate) done: RequestReply,
}

/// Where an owner's request waits for its reply.
type RequestReply = Sender<Result<Message, ServerRequestError>>;

/// What [`ServerHandle`](super::ServerHandle)s ask of the driver.
pub(crate) enum Command {
    Stats {
        done: Sender<ServerStats>,
    },
    Clients {
        done: Sender<Vec<SessionInfo>>,
    },
    Publish(Box<Publish>),
    Request(Box<Request>),
    Subscribe {
        filter: String,
        options: SubscribeOptions,
        done: Sender<Result<(u32, SubQueue), ServerSubscribeError>>,
    },
    Unsubscribe {
        sid: u32,
    },
    Shutdown {
        reason: String,
        done: Sender<()>,
    },
    /// Deliver what is queued (at most `timeout`), then shut down; answered once stopped.
    Drain {
        timeout: Duration,
        done: Sender<()>,
    },
}

/// The state the server task owns.
pub(crate) struct Driver {
    pub(crate) core: Core,
    clock: Clock,
    events: Sender<ServerEvent>,
    /// The owner's subscriptions and requests.
    owner: OwnerBook<SubQueue, RequestReply>,
    stoppers: Vec<Sender<()>>,
}

impl Driver {
    pub(crate) fn new(core: Core, clock: Clock, events: Sender<ServerEvent>) -> Driver {
        Driver {
            core,
            clock,
            events,
            owner: OwnerBook::default(),
            stoppers: Vec::new(),
        }
    }

    fn sessions(&self) -> Vec<SessionInfo> {
        let epoch = self.clock.wall_epoch();
        (self.core.sessions().into_iter())
            .map(|session| SessionInfo::new(session, epoch))
            .collect()
    }

    fn emit(&self, event: ServerEvent) {
        log::debug!("{event:?}");
        if self.events.try_send(event).is_err() {
            log::trace!("server event dropped: nobody reads events() or its queue is full");
        }
    }

    /// The loop ended: ends the owner's streams and answers whoever waits.
    pub(crate) fn finish(mut self) {
        for done in self.owner.finish() {
            let _ = done.try_send(Err(ServerRequestError::Stopped));
        }
        for stopper in self.stoppers {
            let _ = stopper.try_send(());
        }
    }
}

impl Owner for Driver {
    type M = Core;
    type Command = Command;

    fn machine(&mut self) -> &mut Core {
        &mut self.core
    }

    fn on_event(&mut self, now: Instant, event: CoreEvent) {
        let received = self.clock.std_instant(now);
        let event = match self.owner.route(&mut self.core, event, received) {
            OwnerRouted::Other(event) => event,
            OwnerRouted::Reply(done, result) => {
                let received = self.clock.std_instant(now);
                let _ = done.try_send(result.map(|m| Message::from_core(m, received)));
                return;
            }
            OwnerRouted::SlowConsumer(sid) => {
                // The owner's own subscription: a session without a name.
                let name = String::new();
                return self.emit(ServerEvent::SlowConsumer { name, sid });
            }
            OwnerRouted::Nobody => return,
        };
        if let Some(event) = ServerEvent::from_core(event) {
            if event == ServerEvent::ShutdownComplete {
                log::info!("every session is closed");
            }
            self.emit(event);
        }
    }

    fn on_command(&mut self, now: Instant, command: Command) {
        match command {
            Command::Stats { done } => {
                let _ = done.try_send(self.core.stats());
            }
            Command::Clients { done } => {
                let _ = done.try_send(self.sessions());
            }
            Command::Publish(publish) => {
                let Publish {
                    client,
                    subject,
                    reply,
                    headers,
                    payload,
                    done,
                } = *publish;
                let result = OwnerBook::<SubQueue, RequestReply>::publish(
                    &mut self.core,
                    client.as_deref(),
                    &subject,
                    reply.as_deref(),
                    headers.as_deref(),
                    &payload,
                );
                let _ = done.try_send(result);
            }
            Command::Request(request) => {
                let Request {
                    client,
                    subject,
                    headers,
                    payload,
                    timeout,
                    done,
                } = *request;
                let (target, headers) = (client.as_deref(), headers.as_deref());
                let core = &mut self.core;
                let sent = (self.owner).request(
                    core, now, target, &subject, headers, &payload, timeout, done,
                );
                if let Err((done, error)) = sent {
                    let _ = done.try_send(Err(error));
                }
            }
            Command::Subscribe {
                filter,
                options,
                done,
            } => {
                let limits = options.limits.unwrap_or_default();
                let inbox = SubQueue::new(limits, options.policy.unwrap_or_default());
                let (core, queue) = (&mut self.core, options.queue_group.as_deref());
                match (self.owner).subscribe(core, &filter, queue, inbox.clone()) {
                    Ok(sid) => {
                        if done.try_send(Ok((sid, inbox))).is_err() {
                            // The caller stopped waiting.
                            self.owner.unsubscribe(&mut self.core, sid, None);
                        }
                    }
                    Err(e) => {
                        let _ = done.try_send(Err(e));
                    }
                }
            }
            Command::Unsubscribe { sid } => self.owner.unsubscribe(&mut self.core, sid, None),
            Command::Shutdown { reason, done } => {
                self.stoppers.push(done);
                if !self.core.is_stopping() {
                    log::info!("shutting down: {reason}");
                }
                self.core.shutdown(now, &reason);
            }
            Command::Drain { timeout, done } => {
                self.stoppers.push(done);
                if !self.core.is_stopping() {
                    log::info!("draining for at most {timeout:?}");
                    self.core.drain(now, timeout);
                }
            }
        }
    }

    fn on_commands_closed(&mut self, _now: Instant) {}

    fn done(&self, _now: Instant) -> bool {
        self.core.is_shut_down()
    }
}
