//! The server's driver: it owns the core [`Server`](kcpq_core::server::Server), carries out the
//! handles' commands and forwards the core's events.

use std::collections::HashMap;
use std::time::Duration;

use async_channel::Sender;
use bytes::Bytes;
use kcpq_core::client::{RequestFailure, RequestId};
use kcpq_core::queue::{OverflowPolicy, PushOutcome, QueueLimits};
use kcpq_core::server::{Server as Core, ServerEvent as CoreEvent, ServerStats};
use kcpq_core::{CloseReason, Instant};

use super::owner::{ServerPublishError, ServerRequestError, ServerSubscribeError};
use super::{ServerEvent, SessionInfo};
use crate::clock::Clock;
use crate::event_loop::Owner;
use crate::inbox::{Item, SubQueue};
use crate::message::Message;

/// What [`ServerHandle`](super::ServerHandle)s ask of the driver.
pub(crate) enum Command {
    Stats {
        done: Sender<ServerStats>,
    },
    Clients {
        done: Sender<Vec<SessionInfo>>,
    },
    Publish {
        client: Option<String>,
        subject: String,
        reply: Option<String>,
        payload: Bytes,
        done: Sender<Result<(), ServerPublishError>>,
    },
    Request {
        client: Option<String>,
        subject: String,
        payload: Bytes,
        timeout: Duration,
        done: Sender<Result<Message, ServerRequestError>>,
    },
    Subscribe {
        filter: String,
        queue: Option<String>,
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

struct PendingRequest {
    timeout: Duration,
    done: Sender<Result<Message, ServerRequestError>>,
}

/// The state the server task owns.
pub(crate) struct Driver {
    pub(crate) core: Core,
    clock: Clock,
    events: Sender<ServerEvent>,
    subs: HashMap<u32, SubQueue>,
    requests: HashMap<RequestId, PendingRequest>,
    stoppers: Vec<Sender<()>>,
}

impl Driver {
    pub(crate) fn new(core: Core, clock: Clock, events: Sender<ServerEvent>) -> Driver {
        Driver {
            core,
            clock,
            events,
            subs: HashMap::new(),
            requests: HashMap::new(),
            stoppers: Vec::new(),
        }
    }

    fn sessions(&self) -> Vec<SessionInfo> {
        self.core
            .sessions()
            .into_iter()
            .map(|s| SessionInfo {
                name: s.name,
                addr: s.addr,
                connected_since: self.clock.wall_time(s.connected_since),
                last_heard: self.clock.wall_time(s.last_heard),
                rtt: s.rtt,
                subscriptions: s.subscriptions,
                transport: s.transport,
            })
            .collect()
    }

    fn emit(&self, event: ServerEvent) {
        log::debug!("{event:?}");
        if self.events.try_send(event).is_err() {
            log::trace!("server event dropped: nobody reads events() or its queue is full");
        }
    }

    /// The loop ended: ends the owner's streams and answers whoever waits.
    pub(crate) fn finish(self) {
        for queue in self.subs.values() {
            queue.close();
        }
        for (_, request) in self.requests {
            let _ = request.done.try_send(Err(ServerRequestError::Stopped));
        }
        for stopper in self.stoppers {
            let _ = stopper.try_send(());
        }
    }

    fn on_request_failed(&mut self, id: RequestId, failure: RequestFailure) {
        let Some(request) = self.requests.remove(&id) else {
            return;
        };
        let error = ServerRequestError::from_failure(failure, request.timeout);
        let _ = request.done.try_send(Err(error));
    }
}

impl Owner for Driver {
    type M = Core;
    type Command = Command;

    fn machine(&mut self) -> &mut Core {
        &mut self.core
    }

    fn on_event(&mut self, now: Instant, event: CoreEvent) {
        match event {
            CoreEvent::SessionOpened { name, addr } => {
                self.emit(ServerEvent::ClientConnected { name, addr });
            }
            CoreEvent::SessionClosed {
                name,
                addr,
                reason: CloseReason::Silence | CloseReason::DeadLink,
            } => self.emit(ServerEvent::HeartbeatTimeout { name, addr }),
            CoreEvent::SessionClosed { name, addr, reason } => {
                self.emit(ServerEvent::ClientDisconnected { name, addr, reason });
            }
            CoreEvent::SlowConsumer { name, sid } => {
                self.emit(ServerEvent::SlowConsumer { name, sid });
            }
            CoreEvent::Message(message) => {
                if let Some(queue) = self.subs.get(&message.sid) {
                    let item = Item {
                        message,
                        received: self.clock.std_instant(now),
                    };
                    if queue.push(item).is_some_and(PushOutcome::first_of_burst) {
                        log::warn!("a subscription of the server's owner is dropping messages");
                    }
                }
            }
            CoreEvent::Reply(id, message) => {
                if let Some(request) = self.requests.remove(&id) {
                    let message = Message::from_core(message, self.clock.std_instant(now));
                    let _ = request.done.try_send(Ok(message));
                }
            }
            CoreEvent::RequestFailed(id, failure) => self.on_request_failed(id, failure),
            CoreEvent::ShutdownComplete => log::info!("every session is closed"),
            other => log::debug!("server event not handled by the adapter: {other:?}"),
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
            Command::Publish {
                client,
                subject,
                reply,
                payload,
                done,
            } => {
                let result = match &client {
                    Some(name) => {
                        self.core
                            .publish_to(name, &subject, reply.as_deref(), None, &payload)
                    }
                    None => self
                        .core
                        .publish(&subject, reply.as_deref(), None, &payload),
                };
                let _ = done.try_send(result.map_err(ServerPublishError::from));
            }
            Command::Request {
                client,
                subject,
                payload,
                timeout,
                done,
            } => {
                let target = client.as_deref();
                match self
                    .core
                    .request(now, target, &subject, None, &payload, timeout)
                {
                    Ok(id) => {
                        let pending = PendingRequest { timeout, done };
                        self.requests.insert(id, pending);
                    }
                    Err(e) => {
                        let _ = done.try_send(Err(e.into()));
                    }
                }
            }
            Command::Subscribe {
                filter,
                queue,
                done,
            } => match self.core.subscribe(&filter, queue.as_deref()) {
                Ok(sid) => {
                    let inbox = SubQueue::new(QueueLimits::default(), OverflowPolicy::DropNewest);
                    if done.try_send(Ok((sid, inbox.clone()))).is_ok() {
                        self.subs.insert(sid, inbox);
                    } else {
                        let _ = self.core.unsubscribe(sid);
                    }
                }
                Err(e) => {
                    let _ = done.try_send(Err(e.into()));
                }
            },
            Command::Unsubscribe { sid } => {
                if let Some(queue) = self.subs.remove(&sid) {
                    queue.close();
                    let _ = self.core.unsubscribe(sid);
                }
            }
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
