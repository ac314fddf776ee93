//! The blocking client: a handle over an I/O thread that drives a `kcpq_core` client.
//!
//! Every call that waits has a bound: `publish` waits for room in the command queue at most the
//! client's default timeout (`ClientOptions::timeout`), `subscribe` and `flush` wait for the
//! server's answer as long, `request` as long as its own timeout; `flush_timeout` and
//! `close_timeout` take theirs explicitly.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use kcpq_core::adapter::{
    ClientCommand, ClientDriver, ClientShared, CloseError, ClosedError, ConnectError,
    DEFAULT_COMMAND_CAPACITY, DEFAULT_CONNECT_TIMEOUT, DEFAULT_EVENT_CAPACITY,
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_SLOW_CALLBACK, DEFAULT_SOCKET_BUFFER, DrainError, Event,
    FlushError, PublishError, REPLY_MARGIN, RequestError, SubscribeError, local_address_for,
};
use kcpq_core::client::{Client as Core, ClientConfig, ClientStats, SubscribeOptions};
use kcpq_core::crypto::KeySet;
use kcpq_os::{Clock, fresh_seed};

use crate::Message;
use crate::driver::IoThread;
use crate::events::{Events, events};
use crate::io::IoSocket;
use crate::link::{Link, Std, await_reply, deadline_after, link};
use crate::subscription::{CallbackSubscription, Subscription};

/// What handles send the I/O thread.
type Command = ClientCommand<Std>;

/// How to connect. Start from [`ClientOptions::new`] and change fields.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The server address (`host:port`), resolved at connect time.
    pub server: String,
    /// The pre-shared keys; the first is used.
    pub keys: KeySet,
    /// The core client's settings: name, KCP, handshake, reconnect policy, the default bound
    /// and overflow policy of subscription queues, other bounds.
    pub config: ClientConfig,
    /// How long `connect` waits for the session (also the handshake's own timeout).
    pub connect_timeout: Duration,
    /// The bound of blocking calls without their own timeout.
    pub operation_timeout: Duration,
    /// The bound of the command queue to the I/O thread.
    pub command_capacity: usize,
    /// The bound of the event stream.
    pub event_capacity: usize,
    /// A callback subscription's call that takes longer is counted and reported
    /// ([`Event::SlowCallback`]).
    pub slow_callback: Duration,
    /// Batch datagrams with the kernel's offloads where available: `recvmmsg` and GRO on
    /// receive, GSO (`UDP_SEGMENT`) on send, with clean fallbacks where they are missing.
    /// Default `true`; `false` makes one plain system call per datagram. With it on, the socket
    /// also refuses to fragment datagrams larger than the interface MTU.
    pub udp_offload: bool,
}

impl ClientOptions {
    /// Options with defaults for connecting to `server` with `keys`.
    pub fn new(server: impl Into<String>, keys: KeySet) -> Self {
        ClientOptions {
            server: server.into(),
            keys,
            config: ClientConfig::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            command_capacity: DEFAULT_COMMAND_CAPACITY,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            slow_callback: DEFAULT_SLOW_CALLBACK,
            udp_offload: true,
        }
    }
}

#[derive(Debug)]
struct Inner {
    link: Link<Command>,
    events: Events<Event>,
    thread: IoThread,
    shared: ClientShared,
}

impl Drop for Inner {
    /// The last handle is gone: close as [`Client::close`] does, without waiting for the
    /// server's answer, but long enough (bounded) for the CLOSE to leave, so that a program
    /// that ends right after still tells the server (see [`ClientShared::close_on_drop`]).
    fn drop(&mut self) {
        (self.shared).close_on_drop(|sent| self.link.try_send(Command::Dropped { sent }).is_ok());
    }
}

/// A KCPQ client. Cloning gives another handle to the same connection; the connection closes
/// when [`Client::close`] is called or the last handle (subscriptions aside) is dropped: then
/// the server is sent CLOSE at once and frees the session within a round trip.
#[derive(Debug, Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl Client {
    /// Connects to `server` with the first key of `keys` and default options, waiting until
    /// the session is ready or the connect timeout (5 s) has passed.
    pub fn connect(
        server: impl ToSocketAddrs + std::fmt::Debug,
        keys: KeySet,
    ) -> Result<Client, ConnectError> {
        let addr = resolve(server)?;
        Client::connect_with(ClientOptions::new(addr.to_string(), keys))
    }

    /// Connects with `options`, waiting until the session is ready or
    /// `options.connect_timeout` has passed.
    pub fn connect_with(mut options: ClientOptions) -> Result<Client, ConnectError> {
        let server = resolve(options.server.as_str())?;
        let (connect, op) = (options.connect_timeout, options.operation_timeout);
        let config = &mut options.config;
        let mut shared = ClientShared::new(server, config, connect, op, options.slow_callback);
        let (local, buffer) = (local_address_for(server), DEFAULT_SOCKET_BUFFER);
        let socket = kcpq_os::open_socket(local, buffer, buffer, false)?;
        let max_datagram = kcpq_os::udp::max_datagram(config.kcp.mtu);
        let (io, waker) = IoSocket::new(socket, options.udp_offload, max_datagram)?;
        let (link, commands) = link(options.command_capacity, waker);
        let (sink, events) = events(options.event_capacity);
        kcpq_os::tune_packet_tags();
        let (keys, seed, clock) = (&options.keys, fresh_seed()?, Clock::start());
        let core = Core::new(options.config, server, keys, seed, clock.now());
        let (connect_tx, connect_rx) = std::sync::mpsc::sync_channel(1);
        let driver = ClientDriver::<Std>::new(core, &shared, connect_tx, sink);
        let thread = IoThread::spawn("kcpq-client", driver, commands, io, clock)?;
        let answer = await_reply(&connect_rx, deadline_after(shared.connect_wait()));
        if let Err(error) = shared.connected(answer) {
            if let ConnectError::TimedOut(_) = error {
                // The I/O thread closes the core, and ends, by itself.
                let _ = link.try_send(Command::Close { done: None });
            } else {
                thread.join();
            }
            return Err(error);
        }
        let inner = Arc::new(Inner {
            link,
            events,
            thread,
            shared,
        });
        Ok(Client { inner })
    }

    /// The server's address.
    pub fn server_addr(&self) -> SocketAddr {
        self.inner.shared.server_addr()
    }

    /// The server's name (from its INFO at the first connect).
    pub fn server_name(&self) -> &str {
        self.inner.shared.server_name()
    }

    /// This client's name as the server knows it.
    pub fn client_name(&self) -> &str {
        self.inner.shared.client_name()
    }

    /// The server's payload limit (headers included).
    pub fn max_payload(&self) -> usize {
        self.inner.shared.max_payload()
    }

    /// How many times the I/O thread has woken up so far (datagrams, timers, commands): a
    /// diagnostic; an idle client wakes up only for its heartbeat.
    pub fn io_wakeups(&self) -> u64 {
        self.inner.thread.wakeups()
    }

    /// The stream of events (connection changes, slow consumers, server errors). Bounded: an
    /// application that does not read it loses events, counted in [`Events::dropped`].
    pub fn events(&self) -> Events<Event> {
        self.inner.events.clone()
    }

    /// Publishes `payload` on `subject`. Fire and forget; [`Client::flush`] for a round trip.
    ///
    /// The payload is anything that becomes a `Vec<u8>`: a borrowed slice is copied once, an
    /// owned `Vec<u8>` (or `String`) is handed to the I/O thread without a copy, which matters
    /// for large messages such as video frames.
    pub fn publish(&self, subject: &str, payload: impl Into<Vec<u8>>) -> Result<(), PublishError> {
        self.publish_with_headers(subject, None, &[], payload)
    }

    /// Publishes with a reply subject, for the receiver to answer.
    pub fn publish_with_reply(
        &self,
        subject: &str,
        reply: &str,
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), PublishError> {
        self.publish_with_headers(subject, Some(reply), &[], payload)
    }

    /// Publishes with headers (name, value pairs) and an optional reply subject. Like every
    /// publish, waits at most the client's operation timeout for room in the command queue.
    pub fn publish_with_headers(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: &[(&str, &str)],
        payload: impl Into<Vec<u8>>,
    ) -> Result<(), PublishError> {
        let (payload, shared) = (payload.into(), &self.inner.shared);
        let headers = shared.check(subject, reply, headers, payload.len())?;
        let command = Command::publish(subject, reply, headers, payload);
        let deadline = deadline_after(self.timeout());
        Ok(self.inner.link.send(command, deadline)?)
    }

    /// The bound of a call without a timeout of its own.
    fn timeout(&self) -> Duration {
        self.inner.shared.operation_timeout()
    }

    /// Sends a request and waits up to `timeout` for the first reply.
    pub fn request(
        &self,
        subject: &str,
        payload: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        self.request_with_headers(subject, &[], payload, timeout)
    }

    /// Sends a request with headers (name, value pairs) and waits up to `timeout` for the first
    /// reply.
    pub fn request_with_headers(
        &self,
        subject: &str,
        headers: &[(&str, &str)],
        payload: impl Into<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let (payload, shared) = (payload.into(), &self.inner.shared);
        let headers = shared.check(subject, None, headers, payload.len())?;
        let make = |done| Command::request(subject, headers, payload, timeout, done);
        // The core times the request out itself; the margin covers a busy I/O thread.
        (self.inner.link).call(make, deadline_after(timeout), REPLY_MARGIN)?
    }

    /// Subscribes to `filter` (`*` matches one token, `>` the rest), waiting for the server's
    /// confirmation.
    pub fn subscribe(&self, filter: &str) -> Result<Subscription, SubscribeError> {
        self.subscribe_with(filter, SubscribeOptions::default())
    }

    /// Subscribes as a member of queue group `queue`: each message goes to one member.
    pub fn queue_subscribe(
        &self,
        filter: &str,
        queue: &str,
    ) -> Result<Subscription, SubscribeError> {
        self.subscribe_with(filter, SubscribeOptions::queue_group(queue))
    }

    /// Subscribes with options (queue group, queue bound and overflow policy; the policy also
    /// applies to the server's queue in front of this client).
    pub fn subscribe_with(
        &self,
        filter: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription, SubscribeError> {
        let queues = self.inner.shared.queues(options);
        let inbox = queues.inbox::<Std>();
        let make = |inbox, done| Command::subscribe(filter, queues.core, inbox, done);
        Subscription::open(&self.inner.link, filter, inbox, self.timeout(), make)
    }

    /// Subscribes and calls `callback` for every message, on a dedicated thread per
    /// subscription (a slow callback delays only its own subscription).
    pub fn subscribe_callback(
        &self,
        filter: &str,
        callback: impl FnMut(Message) + Send + 'static,
    ) -> Result<CallbackSubscription, SubscribeError> {
        self.subscribe_callback_with(filter, SubscribeOptions::default(), callback)
    }

    /// [`Client::subscribe_callback`] with options, as [`Client::subscribe_with`] takes them.
    pub fn subscribe_callback_with(
        &self,
        filter: &str,
        options: SubscribeOptions,
        callback: impl FnMut(Message) + Send + 'static,
    ) -> Result<CallbackSubscription, SubscribeError> {
        let subscription = self.subscribe_with(filter, options)?;
        CallbackSubscription::spawn(subscription, self.inner.shared.slow_callback(), callback)
    }

    /// Waits until the server has processed everything sent before (the default timeout).
    pub fn flush(&self) -> Result<(), FlushError> {
        self.flush_timeout(self.timeout())
    }

    /// Waits up to `timeout` until the server has processed everything sent before.
    pub fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        let make = |done| Command::Flush { timeout, done };
        (self.inner.link).call(make, deadline_after(timeout), REPLY_MARGIN)?
    }

    /// The core client's counters.
    pub fn stats(&self) -> Result<ClientStats, ClosedError> {
        let make = |done| Command::Stats { done };
        (self.inner.link.ask(make, self.timeout())).map_err(|_| ClosedError)
    }

    /// Closes the connection (sending CLOSE and waiting for it to be acknowledged, at most
    /// the core's `close_linger`) and stops the I/O thread. Subscriptions end.
    pub fn close(&self) {
        let _ = self.close_timeout(self.timeout());
    }

    /// Closes, waiting at most `timeout` for the I/O thread to finish.
    pub fn close_timeout(&self, timeout: Duration) -> Result<(), CloseError> {
        let (inner, make) = (&self.inner, |done| Command::Close { done: Some(done) });
        let stopped = inner
            .thread
            .stop(&inner.link, make, deadline_after(timeout));
        CloseError::from_wait(stopped)
    }

    /// Drains, then closes: every subscription is withdrawn, messages the server routed before
    /// it processed that are still delivered, what waits to be sent is sent, and the session
    /// closes, within `timeout` (then it closes anyway). Returns once the client has closed;
    /// subscription handles still yield what they queued, then end. New publishes, requests and
    /// subscriptions made meanwhile are dropped or refused.
    pub fn drain(&self, timeout: Duration) -> Result<(), DrainError> {
        let (inner, make) = (&self.inner, |done| Command::Drain { timeout, done });
        let deadline = deadline_after(timeout).later(inner.shared.drain_wait(timeout) - timeout);
        inner.thread.stop(&inner.link, make, deadline)?
    }
}

fn resolve(server: impl ToSocketAddrs + std::fmt::Debug) -> Result<SocketAddr, ConnectError> {
    let label = format!("{server:?}");
    let none = || std::io::Error::new(std::io::ErrorKind::NotFound, "it resolved to no address");
    let first = (server.to_socket_addrs()).and_then(|mut addrs| addrs.next().ok_or_else(none));
    first.map_err(|e| ConnectError::Resolve(label, e))
}
