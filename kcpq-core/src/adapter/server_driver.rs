//! The driver of an embedded server every adapter runs, written once: it answers the handles'
//! queries, applies the owner's publishes, subscriptions and requests ([`OwnerBook`]), routes
//! the core's events to them and to the event stream, and stops the core. Generic over the
//! adapter's channel types ([`Channels`]); the adapter's loop drives it through [`Driver`].

use std::time::{Duration, SystemTime};

use super::cross_lanes::{CrossIn, CrossOut};
use super::{
    Channels, Driver, Message, OwnerBook, OwnerRouted, ServerEvent, ServerPublishError,
    ServerRequestError, ServerSubscribeError, SessionInfo, SubInbox, SubscriptionCommand,
};
use crate::server::{self, Server, ServerStats};
use crate::{Instant, Sid};

/// Where a caller of adapter `C` waits for a `T`.
type Reply<C, T> = <C as Channels>::Reply<T>;

/// Where the owner's subscribe call waits in adapter `C`.
type SubscribeReply<C> = Reply<C, Result<Sid, ServerSubscribeError>>;

/// An owner's request's answer in adapter `C`.
pub type ServerRequestAnswer<C> = Result<Message<<C as Channels>::Payload>, ServerRequestError>;

/// One call of a server handle, carried to the driver.
#[non_exhaustive]
pub enum ServerCommand<C: Channels> {
    /// Every session now.
    Sessions {
        /// Where the caller waits.
        done: Reply<C, Vec<SessionInfo>>,
    },
    /// Server-wide counters.
    Stats {
        /// Where the caller waits.
        done: Reply<C, ServerStats>,
    },
    /// CLOSE to every session, then stop once each is acknowledged (or the core's
    /// `shutdown_linger` has passed); answered once stopped.
    Shutdown {
        /// Sent to the clients in CLOSE.
        reason: String,
        /// Where the caller waits, if it does.
        done: Option<Reply<C, ()>>,
    },
    /// Deliver what is queued (at most `timeout`), then shut down; answered once stopped.
    Drain {
        /// How long delivering may take.
        timeout: Duration,
        /// Where the caller waits.
        done: Reply<C, ()>,
    },
    /// The owner's publish, to everyone or to the client named `to`.
    Publish {
        /// The client, if only one.
        to: Option<String>,
        /// The subject.
        subject: String,
        /// The reply subject.
        reply: Option<String>,
        /// The encoded headers block.
        headers: Option<Vec<u8>>,
        /// The payload.
        payload: C::Payload,
        /// Where the caller waits for the core's verdict.
        done: Reply<C, Result<(), ServerPublishError>>,
    },
    /// The owner's subscription, whose messages go to `inbox`.
    Subscribe {
        /// The subject filter.
        filter: String,
        /// The queue group.
        queue: Option<String>,
        /// The subscription's inbox, made by the handle.
        inbox: SubInbox<C>,
        /// Where the caller waits.
        done: Reply<C, Result<Sid, ServerSubscribeError>>,
    },
    /// Ends an owner subscription now (`after: None`) or after `after` more messages.
    Unsubscribe {
        /// The subscription.
        sid: Sid,
        /// Messages after which it ends.
        after: Option<u64>,
    },
    /// The owner's request, to everyone or to the client named `to`.
    Request {
        /// The client, if only one.
        to: Option<String>,
        /// The subject.
        subject: String,
        /// The encoded headers block.
        headers: Option<Vec<u8>>,
        /// The payload.
        payload: C::Payload,
        /// How long the core waits for the reply.
        timeout: Duration,
        /// Where the caller waits.
        done: Reply<C, ServerRequestAnswer<C>>,
    },
}

impl<C: Channels> ServerCommand<C> {
    /// The owner's publish, to everyone or to the client named `to`, with its encoded headers
    /// block, answered on `done`.
    pub fn publish(
        to: Option<&str>,
        subject: &str,
        reply: Option<&str>,
        headers: Option<Vec<u8>>,
        payload: C::Payload,
        done: Reply<C, Result<(), ServerPublishError>>,
    ) -> Self {
        let (to, subject, reply) = (
            to.map(str::to_owned),
            subject.to_owned(),
            reply.map(str::to_owned),
        );
        ServerCommand::Publish {
            to,
            subject,
            reply,
            headers,
            payload,
            done,
        }
    }

    /// The owner's request, to everyone or to the client named `to`, with its encoded headers
    /// block, answered on `done`.
    pub fn request(
        to: Option<&str>,
        subject: &str,
        headers: Option<Vec<u8>>,
        payload: C::Payload,
        timeout: Duration,
        done: Reply<C, ServerRequestAnswer<C>>,
    ) -> Self {
        let (to, subject) = (to.map(str::to_owned), subject.to_owned());
        ServerCommand::Request {
            to,
            subject,
            headers,
            payload,
            timeout,
            done,
        }
    }
}

impl<C: Channels> ServerCommand<C> {
    /// A shutdown sending `reason` in CLOSE, answered on `done` once stopped, if given.
    pub fn shutdown(reason: &str, done: Option<Reply<C, ()>>) -> Self {
        let reason = reason.to_owned();
        ServerCommand::Shutdown { reason, done }
    }

    /// The owner's subscription to `filter` (in queue group `queue`), its messages to `inbox`,
    /// answered on `done`.
    pub fn subscribe(
        filter: &str,
        queue: Option<String>,
        inbox: SubInbox<C>,
        done: Reply<C, Result<Sid, ServerSubscribeError>>,
    ) -> Self {
        let filter = filter.to_owned();
        ServerCommand::Subscribe {
            filter,
            queue,
            inbox,
            done,
        }
    }
}

impl<C: Channels> SubscriptionCommand for ServerCommand<C> {
    fn unsubscribe(sid: Sid, after: Option<u64>) -> Self {
        ServerCommand::Unsubscribe { sid, after }
    }

    fn emit(_: super::Event) -> Option<Self> {
        None
    }
}

/// The reason sent to clients in CLOSE when every handle is gone.
const ABANDONED_REASON: &str = "server shutting down";

/// The core server, the owner's subscriptions and requests, and who waits for the stop.
pub struct ServerDriver<C: Channels> {
    core: Server,
    owner: OwnerBook<SubInbox<C>, Reply<C, ServerRequestAnswer<C>>>,
    events: C::Events<ServerEvent>,
    stoppers: Vec<Reply<C, ()>>,
    /// The wall-clock time of the core's zero, for [`SessionInfo`].
    wall_epoch: SystemTime,
    /// This worker's ends of the way between workers (none for a server alone).
    cross: Option<(CrossOut, CrossIn)>,
    /// The owner's subscriptions answered once every worker knows them.
    settling: Vec<(SubscribeReply<C>, Sid)>,
}

impl<C: Channels> std::fmt::Debug for ServerDriver<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerDriver").finish_non_exhaustive()
    }
}

impl<C: Channels> ServerDriver<C> {
    /// Drives `core`, whose zero is `wall_epoch` on the wall clock; events go to `events`.
    pub fn new(core: Server, events: C::Events<ServerEvent>, wall_epoch: SystemTime) -> Self {
        ServerDriver {
            core,
            owner: OwnerBook::default(),
            events,
            stoppers: Vec::new(),
            wall_epoch,
            cross: None,
            settling: Vec::new(),
        }
    }

    /// Drives `core`, one worker of a server of several ([`Server::new_worker`]): its messages
    /// for the other workers leave through `cross.0`, theirs arrive in `cross.1`, taken at
    /// [`Driver::take_cross`] (see [`cross_lanes`](super::cross_lanes)).
    pub fn with_peers(
        core: Server,
        events: C::Events<ServerEvent>,
        wall_epoch: SystemTime,
        cross: (CrossOut, CrossIn),
    ) -> Self {
        let mut driver = ServerDriver::new(core, events, wall_epoch);
        driver.cross = Some(cross);
        driver
    }

    /// Answers the owner's subscribe calls whose subscription every worker now knows.
    fn answer_settled(&mut self) {
        if self.settling.is_empty() || !self.core.subscriptions_settled() {
            return;
        }
        for (done, sid) in std::mem::take(&mut self.settling) {
            // A caller that stopped waiting takes no answer: the subscription is undone.
            if !C::answer(done, Ok(sid)) {
                self.owner.unsubscribe(&mut self.core, sid, None);
            }
        }
    }

    fn emit(&self, event: ServerEvent) {
        log::debug!("{event:?}");
        C::emit(&self.events, event);
    }

    fn shutdown(&mut self, now: Instant, reason: &str) {
        if !self.core.is_stopping() {
            log::info!("shutting down: {reason}");
            self.core.shutdown(now, reason);
        }
    }
}

impl<C: Channels> Driver for ServerDriver<C> {
    type Machine = Server;
    type Command = ServerCommand<C>;

    fn machine(&mut self) -> &mut Server {
        &mut self.core
    }

    fn apply(&mut self, now: Instant, command: ServerCommand<C>) -> bool {
        match command {
            ServerCommand::Sessions { done } => {
                let epoch = self.wall_epoch;
                let sessions = self.core.sessions().into_iter();
                C::answer(done, sessions.map(|s| SessionInfo::new(s, epoch)).collect());
            }
            ServerCommand::Stats { done } => _ = C::answer(done, self.core.stats()),
            ServerCommand::Shutdown { reason, done } => {
                self.stoppers.extend(done);
                self.shutdown(now, &reason);
            }
            ServerCommand::Drain { timeout, done } => {
                self.stoppers.push(done);
                if !self.core.is_stopping() {
                    log::info!("draining for at most {timeout:?}");
                    self.core.drain(now, timeout);
                }
            }
            ServerCommand::Publish {
                to,
                subject,
                reply,
                headers,
                payload,
                done,
            } => {
                let (core, to, reply) = (&mut self.core, to.as_deref(), reply.as_deref());
                let result = OwnerBook::<SubInbox<C>, Reply<C, ServerRequestAnswer<C>>>::publish(
                    core,
                    to,
                    &subject,
                    reply,
                    headers.as_deref(),
                    payload.as_ref(),
                );
                C::answer(done, result);
            }
            ServerCommand::Subscribe {
                filter,
                queue,
                inbox,
                done,
            } => {
                let core = &mut self.core;
                match (self.owner).subscribe(core, &filter, queue.as_deref(), inbox) {
                    // Answered once publishers on every worker reach it (at once with one).
                    Ok(sid) => {
                        self.settling.push((done, sid));
                        self.answer_settled();
                    }
                    Err(e) => _ = C::answer(done, Err(e)),
                }
            }
            ServerCommand::Unsubscribe { sid, after } => {
                self.owner.unsubscribe(&mut self.core, sid, after);
            }
            ServerCommand::Request {
                to,
                subject,
                headers,
                payload,
                timeout,
                done,
            } => {
                let (core, to, headers) = (&mut self.core, to.as_deref(), headers.as_deref());
                let payload = payload.as_ref();
                let sent =
                    (self.owner).request(core, now, to, &subject, headers, payload, timeout, done);
                if let Err((done, error)) = sent {
                    C::answer(done, Err(error));
                }
            }
        }
        true
    }

    fn retry(&mut self, _now: Instant) -> bool {
        true
    }

    fn on_event(&mut self, event: server::ServerEvent, received: std::time::Instant) -> bool {
        match (self.owner).route(&mut self.core, event, received) {
            OwnerRouted::Reply(done, result) => {
                C::answer(done, result.map(|m| Message::from_core(m, received)));
            }
            // The owner's own subscription: a session without a name.
            OwnerRouted::SlowConsumer(sid) => self.emit(ServerEvent::SlowConsumer {
                name: String::new(),
                sid,
            }),
            OwnerRouted::Other(other) => {
                if let Some(event) = ServerEvent::from_core(other) {
                    if event == ServerEvent::ShutdownComplete {
                        // Each worker completes; the server has once worker 0 has (its
                        // adapter waits for the others before it reports the server stopped).
                        if self.core.worker_index() != 0 {
                            return false;
                        }
                        log::info!("every session is closed");
                    }
                    self.emit(event);
                }
            }
            OwnerRouted::Nobody => {}
        }
        // Withdrawing an owner subscription only edits the index: no output to drain again.
        false
    }

    fn abandoned(&mut self, now: Instant) {
        self.shutdown(now, ABANDONED_REASON);
    }

    fn wake_readers(&mut self) {
        self.owner.wake_readers();
    }

    fn after_send(&mut self) {
        if let Some((out, _)) = &mut self.cross {
            out.flush();
            while let Some((to, msg)) = self.core.poll_cross() {
                out.send(to, msg);
            }
        }
    }

    fn take_cross(&mut self, now: Instant) -> bool {
        let Some((_, inbox)) = &self.cross else {
            return false;
        };
        let core = &mut self.core;
        let taken = inbox.drain(|from, msg| core.handle_cross(now, from, msg));
        if taken > 0 {
            self.answer_settled();
        }
        taken > 0
    }

    fn done(&self) -> bool {
        self.core.is_shut_down()
    }

    fn finish(&mut self) {
        if let Some((_, inbox)) = &self.cross {
            inbox.close();
        }
        for (done, _) in self.settling.drain(..) {
            C::answer(done, Err(ServerSubscribeError::Stopped));
        }
        for done in self.owner.finish() {
            C::answer(done, Err(ServerRequestError::Stopped));
        }
        for done in self.stoppers.drain(..) {
            C::answer(done, ());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::mpsc::sync_channel;

    use super::super::driver::test_channels::Test;
    use super::super::{Inbox, Next, Taken, apply_commands};
    use super::*;
    use crate::crypto::{Key, KeySet};
    use crate::queue::{OverflowPolicy, QueueLimits};
    use crate::server::ServerConfig;

    fn driver() -> ServerDriver<Test> {
        let keys = KeySet::single(Key::from_bytes([1; 32]));
        let core =
            Server::new(ServerConfig::default(), &keys, [2; 32], Instant::ZERO).expect("a server");
        let (events, _) = sync_channel(8);
        ServerDriver::<Test>::new(core, events, SystemTime::UNIX_EPOCH)
    }

    #[test]
    fn a_turn_takes_at_most_its_limit_and_the_last_handle_gone_stops_the_server() {
        let mut driver = driver();
        let (done, stats) = sync_channel(3);
        let command = |_| Taken::Command(ServerCommand::Stats { done: done.clone() });
        let mut queue = (0..3).map(command).chain([Taken::Disconnected]);
        let mut take = || queue.next().expect("a command");
        assert_eq!(
            apply_commands(&mut driver, Instant::ZERO, 2, &mut take),
            (2, true)
        );
        assert_eq!(
            apply_commands(&mut driver, Instant::ZERO, 2, &mut take),
            (1, false)
        );
        assert!(driver.core.is_stopping());
        assert_eq!(stats.try_iter().count(), 3);
    }

    #[test]
    fn the_owner_subscribes_publishes_to_itself_and_the_stop_ends_its_stream() {
        let mut driver = driver();
        let inbox: SubInbox<Test> = Arc::new(Inbox::new(
            QueueLimits::default(),
            OverflowPolicy::DropNewest,
        ));
        let (done, subscribed) = sync_channel(1);
        let filter = "a.*".to_owned();
        let subscribe = ServerCommand::Subscribe {
            filter,
            queue: None,
            inbox: Arc::clone(&inbox),
            done,
        };
        assert!(driver.apply(Instant::ZERO, subscribe));
        let sid = subscribed.recv().expect("answered").expect("subscribed");
        let (done, published) = sync_channel(1);
        let publish = ServerCommand::Publish {
            to: None,
            subject: "a.b".to_owned(),
            reply: None,
            headers: None,
            payload: b"x".to_vec(),
            done,
        };
        driver.apply(Instant::ZERO, publish);
        published.recv().expect("answered").expect("published");
        while let Some(event) = driver.machine().poll_event() {
            driver.on_event(event, std::time::Instant::now());
        }
        assert!(matches!(inbox.try_next(), Next::Item(m) if m.sid == sid && m.payload == b"x"));
        let (done, stopped) = sync_channel(1);
        let reason = "test".to_owned();
        let shutdown = ServerCommand::Shutdown {
            reason,
            done: Some(done),
        };
        driver.apply(Instant::ZERO, shutdown);
        assert!(driver.done(), "no session to close");
        driver.finish();
        assert_eq!(stopped.try_recv(), Ok(()));
        assert!(matches!(inbox.try_next(), Next::Ended));
    }
}
