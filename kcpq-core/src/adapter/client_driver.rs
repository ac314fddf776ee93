//! The client driver every adapter runs, written once: it applies the handles' commands to the
//! core [`Client`] and routes the core's events ([`ClientBook`]) to the callers waiting for
//! them, the subscriptions' inboxes and the event stream. Generic over the adapter's channel
//! types ([`Channels`]); the adapter's loop drives it through [`Driver`].

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use super::{
    Channels, ClientBook, ClientRouted, ClientShared, ConnectError, DrainError, Driver,
    DriverThread, Event, FlushError, Message, PublishError, RequestError, Routed, SubInbox,
    SubscribeError, SubscriptionCommand,
};
use crate::client::{self, Client, ClientEvent, ClientStats, SubscribeOptions};
use crate::{CloseReason, Instant, Sid};

/// Where a caller of adapter `C` waits for a `T`.
type Reply<C, T> = <C as Channels>::Reply<T>;

/// The client's bookkeeping in adapter `C`.
type Book<C> = ClientBook<SubInbox<C>, RequestReply<C>, FlushReply<C>, SubscribeReply<C>>;

/// Where a request's caller waits.
type RequestReply<C> = Reply<C, RequestAnswer<C>>;

/// Where a flush's caller waits.
type FlushReply<C> = Reply<C, Result<(), FlushError>>;

/// Where a subscribe's caller waits.
type SubscribeReply<C> = Reply<C, Result<Sid, SubscribeError>>;

/// A request's answer in adapter `C`.
pub type RequestAnswer<C> = Result<Message<<C as Channels>::Payload>, RequestError>;

/// What `connect` waits for: the server's name and this client's name, or why not.
pub type ConnectAnswer = Result<(String, String), ConnectError>;

/// One client API call, carried to the driver.
///
/// A command queue allocates its slots when the client is made, so the size of this enum,
/// times the queue's capacity, is memory every client holds: the frequent commands (`Send`,
/// `Request`) stay inline with boxed strings, the rarer and larger ones are boxed. Build them
/// with the constructors ([`ClientCommand::publish`], [`ClientCommand::request`], ...).
#[non_exhaustive]
pub enum ClientCommand<C: Channels> {
    /// A publish without headers nobody waits for (checked on the caller's side): while the
    /// core's outbox is full it is kept, and no further command is taken (back-pressure).
    Send {
        /// The subject.
        subject: Box<str>,
        /// The reply subject.
        reply: Option<Box<str>>,
        /// The payload.
        payload: C::Payload,
    },
    /// A publish with headers, or one whose caller waits for the core's verdict.
    Publish(Box<Publish<C>>),
    /// A request without headers; answered with the reply or the failure.
    Request {
        /// The subject.
        subject: Box<str>,
        /// The payload.
        payload: C::Payload,
        /// How long the core waits for the reply.
        timeout: Duration,
        /// Where the caller waits.
        done: RequestReply<C>,
    },
    /// A request with headers.
    HeadedRequest(Box<HeadedRequest<C>>),
    /// A subscription; answered once the server confirmed it.
    Subscribe(Box<Subscribe<C>>),
    /// Ends a subscription now (`after: None`) or once it has received `after` messages.
    Unsubscribe {
        /// The subscription.
        sid: Sid,
        /// Messages in total after which it ends.
        after: Option<u64>,
    },
    /// A flush; answered after the server's round trip.
    Flush {
        /// How long the core waits for the server.
        timeout: Duration,
        /// Where the caller waits.
        done: FlushReply<C>,
    },
    /// The core's counters.
    Stats {
        /// Where the caller waits.
        done: Reply<C, ClientStats>,
    },
    /// An event found outside the driver (a callback that ran too long), for the event stream.
    Emit(Box<Event>),
    /// Closes at once; answered once the client has closed.
    Close {
        /// Where the caller waits, if it does.
        done: Option<Reply<C, ()>>,
    },
    /// The last client handle was dropped: close, and report once the CLOSE was sent.
    Dropped {
        /// Told once the CLOSE was handed to the socket.
        sent: SyncSender<()>,
    },
    /// Drains, then closes; answered at once when the core refuses, else once closed.
    Drain {
        /// How long the drain may take.
        timeout: Duration,
        /// Where the caller waits.
        done: Reply<C, Result<(), DrainError>>,
    },
}

/// A publish with headers, or one whose caller waits (see [`ClientCommand::Publish`]).
#[non_exhaustive]
pub struct Publish<C: Channels> {
    /// The subject.
    pub subject: String,
    /// The reply subject.
    pub reply: Option<String>,
    /// The encoded headers block.
    pub headers: Option<Vec<u8>>,
    /// The payload.
    pub payload: C::Payload,
    /// Where the caller waits for the core's verdict, if it does; if not, a full outbox keeps
    /// it as [`ClientCommand::Send`] is kept.
    pub done: Option<Reply<C, Result<(), PublishError>>>,
}

/// A request with headers (see [`ClientCommand::HeadedRequest`]).
#[non_exhaustive]
pub struct HeadedRequest<C: Channels> {
    /// The subject.
    pub subject: Box<str>,
    /// The encoded headers block.
    pub headers: Option<Vec<u8>>,
    /// The payload.
    pub payload: C::Payload,
    /// How long the core waits for the reply.
    pub timeout: Duration,
    /// Where the caller waits.
    pub done: RequestReply<C>,
}

/// A subscription whose messages go to `inbox` (see [`ClientCommand::Subscribe`]).
#[non_exhaustive]
pub struct Subscribe<C: Channels> {
    /// The subject filter.
    pub filter: String,
    /// The core's options (see [`SubscriptionQueues`](super::SubscriptionQueues)).
    pub options: SubscribeOptions,
    /// The subscription's inbox, made by the handle.
    pub inbox: SubInbox<C>,
    /// Where the caller waits.
    pub done: SubscribeReply<C>,
}

impl<C: Channels> ClientCommand<C> {
    /// A publish nobody waits for, with its encoded headers block.
    pub fn publish(
        subject: &str,
        reply: Option<&str>,
        headers: Option<Vec<u8>>,
        payload: C::Payload,
    ) -> Self {
        match headers {
            None => ClientCommand::Send {
                subject: subject.into(),
                reply: reply.map(Box::from),
                payload,
            },
            headers => ClientCommand::publish_awaited(subject, reply, headers, payload, None),
        }
    }

    /// A publish whose caller waits on `done` (if given) for the core's verdict.
    pub fn publish_awaited(
        subject: &str,
        reply: Option<&str>,
        headers: Option<Vec<u8>>,
        payload: C::Payload,
        done: Option<Reply<C, Result<(), PublishError>>>,
    ) -> Self {
        let (subject, reply) = (subject.to_owned(), reply.map(str::to_owned));
        ClientCommand::Publish(Box::new(Publish {
            subject,
            reply,
            headers,
            payload,
            done,
        }))
    }

    /// A request with its encoded headers block, answered on `done`.
    pub fn request(
        subject: &str,
        headers: Option<Vec<u8>>,
        payload: C::Payload,
        timeout: Duration,
        done: RequestReply<C>,
    ) -> Self {
        let subject = subject.into();
        match headers {
            None => ClientCommand::Request {
                subject,
                payload,
                timeout,
                done,
            },
            headers => ClientCommand::HeadedRequest(Box::new(HeadedRequest {
                subject,
                headers,
                payload,
                timeout,
                done,
            })),
        }
    }

    /// A subscription to `filter` with the core's `options`, its messages to `inbox`, answered
    /// on `done`.
    pub fn subscribe(
        filter: &str,
        options: SubscribeOptions,
        inbox: SubInbox<C>,
        done: SubscribeReply<C>,
    ) -> Self {
        let filter = filter.to_owned();
        ClientCommand::Subscribe(Box::new(Subscribe {
            filter,
            options,
            inbox,
            done,
        }))
    }
}

impl<C: Channels> SubscriptionCommand for ClientCommand<C> {
    fn unsubscribe(sid: Sid, after: Option<u64>) -> Self {
        ClientCommand::Unsubscribe { sid, after }
    }

    fn emit(event: Event) -> Option<Self> {
        Some(ClientCommand::Emit(Box::new(event)))
    }
}

/// The core client and everything waiting on it.
pub struct ClientDriver<C: Channels> {
    core: Client,
    book: Book<C>,
    connect: Option<Reply<C, ConnectAnswer>>,
    events: C::Events<Event>,
    closers: Vec<Reply<C, ()>>,
    drainers: Vec<Reply<C, Result<(), DrainError>>>,
    /// A command the full outbox refused, retried before any further command.
    parked: Option<ClientCommand<C>>,
    /// The server's payload limit, shared with the handles that check it.
    max_payload: Arc<AtomicUsize>,
    /// Where the driver runs, for a dropping handle to know whether it may wait.
    thread: DriverThread,
    /// A dropped handle waiting for the CLOSE to be sent.
    close_sent: Option<SyncSender<()>>,
    closing: bool,
}

impl<C: Channels> std::fmt::Debug for ClientDriver<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientDriver")
            .field("core", &self.core)
            .finish_non_exhaustive()
    }
}

impl<C: Channels> ClientDriver<C> {
    /// Drives `core`, whose handles share `shared`: `connect` is answered once the first
    /// session is ready (or will not be), and events go to `events`.
    pub fn new(
        core: Client,
        shared: &ClientShared,
        connect: Reply<C, ConnectAnswer>,
        events: C::Events<Event>,
    ) -> Self {
        ClientDriver {
            core,
            book: ClientBook::default(),
            connect: Some(connect),
            events,
            closers: Vec::new(),
            drainers: Vec::new(),
            parked: None,
            max_payload: shared.max_payload_cell(),
            thread: shared.driver_thread(),
            close_sent: None,
            closing: false,
        }
    }

    /// Closes the core once.
    fn close(&mut self, now: Instant) {
        self.closing = true;
        self.core.close(now);
    }

    /// Answers a waiting request, flush or subscribe.
    fn answer(
        &mut self,
        routed: Routed<RequestReply<C>, FlushReply<C>, SubscribeReply<C>>,
        received: std::time::Instant,
    ) {
        match routed {
            Routed::Request(done, result) => {
                C::answer(done, result.map(|m| Message::from_core(m, received)));
            }
            Routed::Flush(done, result) => {
                C::answer(done, result);
            }
            Routed::Subscribe(done, sid, result) => {
                let confirmed = result.is_ok();
                // A caller that stopped waiting takes no answer: the subscription is undone.
                let answered = C::answer(done, result.map(|()| sid));
                if confirmed {
                    self.book.confirmed(&mut self.core, sid, answered);
                }
            }
            Routed::Other(_) | Routed::Nobody => {}
        }
    }

    /// Publishes the server's payload limit to the handles, which check it.
    fn learn_limits(&self) {
        (self.max_payload).store(self.core.max_payload(), Ordering::Relaxed);
    }

    /// Keeps `command`, which the full outbox refused, until [`Driver::retry`]; takes no more.
    fn park(&mut self, command: ClientCommand<C>) -> bool {
        self.parked = Some(command);
        false
    }

    /// A publish nobody waits for was refused for another reason than a full outbox: the
    /// application hears of it on the event stream, unless the client is closed.
    fn published(&self, subject: &str, result: Result<(), client::PublishError>) {
        match result {
            Ok(()) | Err(client::PublishError::Closed) => {}
            Err(error) => {
                let subject = subject.to_owned();
                C::emit(&self.events, Event::PublishFailed { subject, error });
            }
        }
    }

    /// A request the core took waits for its reply; one it refused is answered now.
    fn requested(
        &mut self,
        result: Result<crate::RequestId, client::PublishError>,
        timeout: Duration,
        done: RequestReply<C>,
    ) {
        match result {
            Ok(id) => self.book.waiters().request(id, timeout, done),
            Err(client::PublishError::Closed) => _ = C::answer(done, Err(RequestError::Closed)),
            Err(e) => _ = C::answer(done, Err(RequestError::Invalid(e))),
        }
    }

    /// Whether a refusal means the outbox is full while the client still runs (keep the
    /// command and retry).
    fn full(&self, error: &client::PublishError) -> bool {
        matches!(error, client::PublishError::BufferFull { .. }) && !self.core.is_closed()
    }
}

impl<C: Channels> Driver for ClientDriver<C> {
    type Machine = Client;
    type Command = ClientCommand<C>;

    fn machine(&mut self) -> &mut Client {
        &mut self.core
    }

    fn apply(&mut self, now: Instant, command: ClientCommand<C>) -> bool {
        match command {
            ClientCommand::Send {
                subject,
                reply,
                payload,
            } => {
                let result =
                    (self.core).publish(&subject, reply.as_deref(), None, payload.as_ref());
                match result {
                    Err(e) if self.full(&e) => {
                        return self.park(ClientCommand::Send {
                            subject,
                            reply,
                            payload,
                        });
                    }
                    result => self.published(&subject, result),
                }
            }
            ClientCommand::Publish(publish) => {
                let p = &*publish;
                let (reply, headers) = (p.reply.as_deref(), p.headers.as_deref());
                let result = (self.core).publish(&p.subject, reply, headers, p.payload.as_ref());
                match result {
                    Err(e) if publish.done.is_none() && self.full(&e) => {
                        return self.park(ClientCommand::Publish(publish));
                    }
                    result => match publish.done {
                        Some(done) => _ = C::answer(done, result.map_err(Into::into)),
                        None => self.published(&publish.subject, result),
                    },
                }
            }
            ClientCommand::Subscribe(subscribe) => {
                let Subscribe {
                    filter,
                    options,
                    inbox,
                    done,
                } = *subscribe;
                let core = &mut self.core;
                if let Err((done, error)) =
                    (self.book).subscribe(core, &filter, &options, inbox, done)
                {
                    C::answer(done, Err(error));
                }
            }
            // With a count, the core ends the subscription itself (`Unsubscribed`).
            ClientCommand::Unsubscribe { sid, after } => {
                if let Some(done) = self.book.unsubscribe(&mut self.core, sid, after) {
                    C::answer(done, Err(SubscribeError::Closed));
                }
            }
            ClientCommand::Request {
                subject,
                payload,
                timeout,
                done,
            } => {
                let result = (self.core).request(now, &subject, None, payload.as_ref(), timeout);
                match result {
                    Err(e) if self.full(&e) => {
                        return self.park(ClientCommand::Request {
                            subject,
                            payload,
                            timeout,
                            done,
                        });
                    }
                    result => self.requested(result, timeout, done),
                }
            }
            ClientCommand::HeadedRequest(request) => {
                let r = &*request;
                let (headers, payload) = (r.headers.as_deref(), r.payload.as_ref());
                let result = (self.core).request(now, &r.subject, headers, payload, r.timeout);
                match result {
                    Err(e) if self.full(&e) => {
                        return self.park(ClientCommand::HeadedRequest(request));
                    }
                    result => self.requested(result, request.timeout, request.done),
                }
            }
            ClientCommand::Flush { timeout, done } => match self.core.flush(now, timeout) {
                Ok(id) => self.book.waiters().flush(id, timeout, done),
                Err(client::FlushError::BufferFull) if !self.core.is_closed() => {
                    return self.park(ClientCommand::Flush { timeout, done });
                }
                Err(client::FlushError::Closed) => _ = C::answer(done, Err(FlushError::Closed)),
                Err(e) => _ = C::answer(done, Err(FlushError::Invalid(e))),
            },
            ClientCommand::Stats { done } => _ = C::answer(done, self.core.stats().clone()),
            ClientCommand::Emit(event) => C::emit(&self.events, *event),
            ClientCommand::Close { done } => {
                self.closers.extend(done);
                self.close(now);
            }
            ClientCommand::Dropped { sent } => {
                self.close_sent = Some(sent);
                self.close(now);
            }
            ClientCommand::Drain { timeout, done } => match self.core.drain(now, timeout) {
                Ok(()) => {
                    self.closing = true;
                    self.drainers.push(done);
                }
                Err(e) => _ = C::answer(done, Err(e.into())),
            },
        }
        true
    }

    fn retry(&mut self, now: Instant) -> bool {
        match self.parked.take() {
            Some(command) => self.apply(now, command),
            None => true,
        }
    }

    fn on_event(&mut self, event: ClientEvent, received: std::time::Instant) -> bool {
        match (self.book).route(&mut self.core, event, received) {
            ClientRouted::Answer(routed) => self.answer(routed, received),
            ClientRouted::Connected {
                server_name,
                client_name,
            } => {
                self.learn_limits();
                if let Some(connect) = self.connect.take() {
                    C::answer(connect, Ok((server_name, client_name)));
                }
            }
            ClientRouted::ConnectFailed(error) => {
                if let Some(connect) = self.connect.take() {
                    C::answer(connect, Err(error));
                }
            }
            ClientRouted::Emit(event) => {
                if matches!(event, Event::Reconnected { .. }) {
                    self.learn_limits();
                }
                C::emit(&self.events, event);
            }
            ClientRouted::Nobody => {}
        }
        self.book.take_core_called()
    }

    fn abandoned(&mut self, now: Instant) {
        if !self.closing {
            self.close(now);
        }
    }

    fn wake_readers(&mut self) {
        self.book.wake_readers();
    }

    fn after_send(&mut self) {
        self.thread.record();
        // The output, the CLOSE of a dropped client included, was sent just before this call.
        if let Some(sent) = self.close_sent.take() {
            let _ = sent.try_send(());
        }
    }

    fn done(&self) -> bool {
        self.core.is_closed()
    }

    fn finish(&mut self) {
        // Only failures are left to answer: no message, no confirmation.
        for routed in self.book.finish() {
            match routed {
                Routed::Request(done, Err(error)) => _ = C::answer(done, Err(error)),
                Routed::Flush(done, result) => _ = C::answer(done, result),
                Routed::Subscribe(done, sid, result) => _ = C::answer(done, result.map(|()| sid)),
                _ => {}
            }
        }
        if let Some(connect) = self.connect.take() {
            C::answer(connect, Err(ConnectError::Disconnected(CloseReason::Local)));
        }
        C::emit(&self.events, Event::Closed);
        for done in self.closers.drain(..) {
            C::answer(done, ());
        }
        for done in self.drainers.drain(..) {
            C::answer(done, Ok(()));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::mpsc::sync_channel;

    use super::super::driver::test_channels::Test;
    use super::super::{Inbox, Next};
    use super::*;
    use crate::crypto::{Key, KeySet};
    use crate::queue::{OverflowPolicy, QueueLimits};

    fn driver() -> (ClientDriver<Test>, std::sync::mpsc::Receiver<Event>) {
        let keys = KeySet::single(Key::from_bytes([3; 32]));
        let server = "127.0.0.1:9".parse().expect("an address");
        let core = Client::new(Default::default(), server, &keys, [4; 32], Instant::ZERO);
        let (connect, _) = sync_channel(1);
        let (events, events_rx) = sync_channel(8);
        let second = Duration::from_secs(1);
        let shared = ClientShared::new(server, &mut Default::default(), second, second, second);
        let driver = ClientDriver::new(core, &shared, connect, events);
        (driver, events_rx)
    }

    #[test]
    fn closing_answers_everyone_waiting_and_ends_every_stream() {
        let (mut driver, events) = driver();
        let inbox: SubInbox<Test> = Arc::new(Inbox::new(
            QueueLimits::default(),
            OverflowPolicy::DropNewest,
        ));
        let (done, subscribed) = sync_channel(1);
        let options = SubscribeOptions::default();
        let subscribe = ClientCommand::subscribe("a", options, Arc::clone(&inbox), done);
        assert!(driver.apply(Instant::ZERO, subscribe));
        let (done, stats) = sync_channel(1);
        driver.apply(Instant::ZERO, ClientCommand::Stats { done });
        assert!(stats.try_recv().is_ok());
        let (done, closed) = sync_channel(1);
        driver.apply(Instant::ZERO, ClientCommand::Close { done: Some(done) });
        while let Some(event) = driver.machine().poll_event() {
            driver.on_event(event, std::time::Instant::now());
        }
        assert!(driver.done(), "no session to close");
        driver.finish();
        assert_eq!(subscribed.try_recv(), Ok(Err(SubscribeError::Closed)));
        assert_eq!(closed.try_recv(), Ok(()));
        assert_eq!(events.try_recv(), Ok(Event::Closed));
        assert!(matches!(inbox.try_next(), Next::Ended));
        let (done, drained) = sync_channel(1);
        let drain = ClientCommand::Drain {
            timeout: Duration::from_secs(1),
            done,
        };
        driver.apply(Instant::ZERO, drain);
        assert_eq!(drained.try_recv(), Ok(Err(DrainError::Closed)));
    }
}
