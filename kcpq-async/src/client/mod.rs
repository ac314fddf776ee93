//! The async client: [`Client`] is a cheap, cloneable handle to a driver task that owns the UDP
//! socket and runs the shared client driver ([`ClientDriver`]) over the core's client.

mod subscription;

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures_lite::Stream;
use kcpq_core::adapter::{
    ClientCommand, ClientDriver, ClientShared, Driver as _, REPLY_MARGIN, WaitError, headers_block,
    local_address_for,
};
use kcpq_core::client::{ClientConfig, ClientStats, SubscribeOptions};
use kcpq_core::crypto::KeySet;
use std::net::SocketAddr;

pub use kcpq_core::adapter::{
    CloseError, ClosedError, ConnectError, DrainError, FlushError, PublishError, RequestError,
    SubscribeError, UnsubscribeError,
};
pub use subscription::{CallbackSubscription, Subscription};

use crate::channels::Async;
use crate::inbox::SubQueue;
use crate::message::Message;
use crate::runtime::Runtime;
use crate::socket::{SocketOptions, UdpIo};
use crate::timeout::{Elapsed, with_timeout};
use kcpq_os::{Clock, fresh_seed};

/// What API handles ask of the driver: the shared client driver's commands.
pub(crate) type Command = ClientCommand<Async>;

pub use kcpq_core::adapter::{
    DEFAULT_COMMAND_CAPACITY, DEFAULT_CONNECT_TIMEOUT, DEFAULT_EVENT_CAPACITY,
    DEFAULT_OPERATION_TIMEOUT, DEFAULT_SLOW_CALLBACK,
};

/// Everything [`Client::connect_with`] takes. Start from [`ClientOptions::new`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientOptions<R: Runtime> {
    /// The server's address.
    pub server: SocketAddr,
    /// The pre-shared keys (the first one connects).
    pub keys: KeySet,
    /// The core client's settings (name, KCP preset, heartbeats, bounds).
    pub config: ClientConfig,
    /// How long `connect` waits for the session (also the handshake's own timeout).
    pub connect_timeout: Duration,
    /// How long subscribe, flush and publish wait at most.
    pub operation_timeout: Duration,
    /// The local address to bind; `None` picks an ephemeral port on every interface.
    pub bind: Option<SocketAddr>,
    /// Socket buffer sizes.
    pub socket: SocketOptions,
    /// Bound of the command queue to the driver task.
    pub command_capacity: usize,
    /// Bound of the event queue.
    pub event_capacity: usize,
    /// A callback subscription's call that takes longer is counted and reported
    /// ([`Event::SlowCallback`]).
    pub slow_callback: Duration,
    /// Where the driver task and callback subscriptions run (the runtime's executor unless
    /// set); see the adapter's `Spawner` for why it matters to latency.
    pub spawner: R::Spawner,
}

impl<R: Runtime> ClientOptions<R> {
    /// Defaults for connecting to `server` with `keys`.
    pub fn new(server: SocketAddr, keys: KeySet) -> ClientOptions<R> {
        ClientOptions {
            server,
            keys,
            config: ClientConfig::default(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            bind: None,
            socket: SocketOptions::default(),
            command_capacity: DEFAULT_COMMAND_CAPACITY,
            event_capacity: DEFAULT_EVENT_CAPACITY,
            slow_callback: DEFAULT_SLOW_CALLBACK,
            spawner: R::Spawner::default(),
        }
    }
}

pub use kcpq_core::adapter::Event;

/// The stream of [`Event`]s. Several streams share the events: each goes to one of them.
#[derive(Debug)]
pub struct Events(Pin<Box<Receiver<Event>>>);

impl Stream for Events {
    type Item = Event;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        self.0.as_mut().poll_next(cx)
    }
}

#[derive(Debug)]
struct Inner<R: Runtime> {
    commands: Sender<Command>,
    events: Receiver<Event>,
    /// Where callback subscriptions run.
    spawner: R::Spawner,
    /// What every handle knows without asking the driver.
    shared: ClientShared,
}

impl<R: Runtime> Drop for Inner<R> {
    /// The last handle is gone: close as [`Client::close`] does, without waiting for the
    /// server's answer, but long enough (bounded) for the CLOSE to leave (see
    /// [`ClientShared::close_on_drop`]). Refused when the client is closed already, or when the
    /// command queue is full: then the driver closes once the last subscription is dropped too
    /// (every sender gone).
    fn drop(&mut self) {
        let commands = &self.commands;
        (self.shared).close_on_drop(|sent| commands.try_send(Command::Dropped { sent }).is_ok());
    }
}

/// A connection to a KCPQ server. Clones share the connection; it closes at [`Client::close`]
/// or [`Client::drain`], or when the last clone is dropped: the server is sent CLOSE at once
/// (the dropping thread waits up to 200 ms for it to leave, so a program that ends right after
/// still tells the server) and subscription streams end after what they hold.
#[derive(Debug)]
pub struct Client<R: Runtime> {
    inner: Arc<Inner<R>>,
}

impl<R: Runtime> Clone for Client<R> {
    fn clone(&self) -> Self {
        Client {
            inner: Arc::clone(&self.inner),
        }
    }
}

fn oneshot<T>() -> (Sender<T>, Receiver<T>) {
    async_channel::bounded(1)
}

impl<R: Runtime> Client<R> {
    /// Connects to `server` with `keys` and default options; returns once the session is ready.
    pub async fn connect(server: SocketAddr, keys: KeySet) -> Result<Client<R>, ConnectError> {
        Client::connect_with(ClientOptions::new(server, keys)).await
    }

    /// Connects with `options`; returns once the session is ready, or fails within
    /// `options.connect_timeout`.
    pub async fn connect_with(options: ClientOptions<R>) -> Result<Client<R>, ConnectError> {
        let mut config = options.config;
        let (connect, op) = (options.connect_timeout, options.operation_timeout);
        let slow = options.slow_callback;
        let mut shared = ClientShared::new(options.server, &mut config, connect, op, slow);
        let bind = options.bind.unwrap_or(local_address_for(options.server));
        let mut io = UdpIo::<R::Socket>::bind(
            bind,
            &options.socket,
            kcpq_os::udp::max_datagram(config.kcp.mtu),
        )
        .map_err(ConnectError::Io)?;
        kcpq_os::tune_packet_tags();
        let seed = fresh_seed().map_err(ConnectError::Io)?;
        let clock = Clock::start();
        let core = kcpq_core::client::Client::new(
            config,
            options.server,
            &options.keys,
            seed,
            clock.now(),
        );
        let (commands, command_rx) = async_channel::bounded(options.command_capacity.max(1));
        let (event_tx, events) = async_channel::bounded(options.event_capacity.max(1));
        let (connect_tx, connect_rx) = oneshot();
        let mut driver = ClientDriver::<Async>::new(core, &shared, connect_tx, event_tx);
        R::spawn_detached(&options.spawner, async move {
            crate::event_loop::run::<R, _>(
                &mut driver,
                &mut io,
                clock,
                &command_rx,
                None,
                crate::event_loop::CLIENT_RECEIVE_PASSES,
            )
            .await;
            driver.finish();
        });
        let wait = shared.connect_wait();
        let answer = match with_timeout::<R, _>(wait, connect_rx.recv()).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(WaitError::Closed),
            Err(Elapsed) => Err(WaitError::TimedOut(wait)),
        };
        shared.connected(answer)?;
        Ok(Client {
            inner: Arc::new(Inner {
                commands,
                events,
                spawner: options.spawner,
                shared,
            }),
        })
    }

    /// The server's address.
    pub fn server_addr(&self) -> SocketAddr {
        self.inner.shared.server_addr()
    }

    /// The largest payload the server accepts (from its INFO; checked on publish).
    pub fn max_payload(&self) -> usize {
        self.inner.shared.max_payload()
    }

    /// The server's name.
    pub fn server_name(&self) -> &str {
        self.inner.shared.server_name()
    }

    /// This client's name as the server knows it.
    pub fn client_name(&self) -> &str {
        self.inner.shared.client_name()
    }

    /// The bound of a call without a timeout of its own.
    fn timeout(&self) -> Duration {
        self.inner.shared.operation_timeout()
    }

    /// Sends `command` and waits for its answer, within `timeout` (plus `margin` for the
    /// answer; a timeout reports `timeout`).
    async fn call<T>(
        &self,
        timeout: Duration,
        margin: Duration,
        make: impl FnOnce(Sender<T>) -> Command,
    ) -> Result<T, WaitError> {
        let (done, answer) = oneshot();
        let exchange = async {
            let sent = self.inner.commands.send(make(done)).await;
            sent.map_err(|_| WaitError::Closed)?;
            answer.recv().await.map_err(|_| WaitError::Closed)
        };
        (with_timeout::<R, _>(timeout + margin, exchange).await)
            .unwrap_or(Err(WaitError::TimedOut(timeout)))
    }

    /// Publishes `payload` on `subject`. Never acknowledged by the server; see [`Client::flush`].
    ///
    /// The subject and the payload size are checked here; the message is then queued for the
    /// driver without waiting for it, so consecutive publishes share datagrams. When the queue
    /// (or the core's outbox behind it) is full, this waits, at most the operation timeout.
    pub async fn publish(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.send(subject, None, payload.into()).await
    }

    /// Publishes `payload` on `subject` asking for replies on `reply`; queued as
    /// [`Client::publish`] is.
    pub async fn publish_with_reply(
        &self,
        subject: &str,
        reply: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        self.send(subject, Some(reply), payload.into()).await
    }

    async fn send(
        &self,
        subject: &str,
        reply: Option<&str>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        self.inner
            .shared
            .check(subject, reply, &[], payload.len())?;
        let command = Command::publish(subject, reply, None, payload);
        let command = match self.inner.commands.try_send(command) {
            Ok(()) => return Ok(()),
            Err(async_channel::TrySendError::Closed(_)) => return Err(PublishError::Closed),
            Err(async_channel::TrySendError::Full(command)) => command,
        };
        let timeout = self.timeout();
        match with_timeout::<R, _>(timeout, self.inner.commands.send(command)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(_)) => Err(PublishError::Closed),
            Err(Elapsed) => Err(PublishError::TimedOut(timeout)),
        }
    }

    /// Publishes with headers (name, value pairs) and an optional reply subject.
    pub async fn publish_with_headers(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: &[(&str, &str)],
        payload: impl Into<Bytes>,
    ) -> Result<(), PublishError> {
        let block = headers_block(headers).map_err(|e| PublishError::Invalid(e.into()))?;
        self.publish_full(subject, reply, block, payload.into())
            .await
    }

    async fn publish_full(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<Vec<u8>>,
        payload: Bytes,
    ) -> Result<(), PublishError> {
        let make = |done| Command::publish_awaited(subject, reply, headers, payload, Some(done));
        self.call(self.timeout(), Duration::ZERO, make).await?
    }

    /// Sends a request and waits up to `timeout` for the first reply.
    pub async fn request(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        self.request_with_headers(subject, &[], payload, timeout)
            .await
    }

    /// Sends a request with headers (name, value pairs) and waits up to `timeout` for the first
    /// reply.
    pub async fn request_with_headers(
        &self,
        subject: &str,
        headers: &[(&str, &str)],
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let payload = payload.into();
        let block = (self.inner.shared).check(subject, None, headers, payload.len())?;
        let make = |done| Command::request(subject, block, payload, timeout, done);
        self.await_request(timeout, make).await
    }

    /// Sends the request `make` builds and waits for its outcome; the core times the request
    /// out itself, the extra second covers a busy driver.
    async fn await_request(
        &self,
        timeout: Duration,
        make: impl FnOnce(Sender<Result<Message, RequestError>>) -> Command,
    ) -> Result<Message, RequestError> {
        self.call(timeout, REPLY_MARGIN, make).await?
    }

    /// Waits until the server has processed everything sent before (a round trip), within the
    /// operation timeout.
    pub async fn flush(&self) -> Result<(), FlushError> {
        self.flush_timeout(self.timeout()).await
    }

    /// [`Client::flush`] with its own timeout.
    pub async fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        let make = |done| Command::Flush { timeout, done };
        self.call(timeout, REPLY_MARGIN, make).await?
    }

    /// Subscribes to `filter` (`*` matches one token, `>` the rest); returns once the server
    /// confirmed it.
    pub async fn subscribe(&self, filter: &str) -> Result<Subscription, SubscribeError> {
        self.subscribe_with(filter, SubscribeOptions::default())
            .await
    }

    /// Subscribes to `filter` as a member of queue group `queue`.
    pub async fn queue_subscribe(
        &self,
        filter: &str,
        queue: &str,
    ) -> Result<Subscription, SubscribeError> {
        self.subscribe_with(filter, SubscribeOptions::queue_group(queue))
            .await
    }

    /// Subscribes with options (queue group, queue bound and overflow policy; the policy also
    /// applies to the server's queue in front of this client).
    pub async fn subscribe_with(
        &self,
        filter: &str,
        options: SubscribeOptions,
    ) -> Result<Subscription, SubscribeError> {
        let queues = self.inner.shared.queues(options);
        let inbox = queues.inbox::<Async>();
        let queue = SubQueue(Arc::clone(&inbox));
        let make = |done| Command::subscribe(filter, queues.core, inbox, done);
        let sid = self.call(self.timeout(), Duration::ZERO, make).await??;
        let commands = self.inner.commands.clone();
        Ok(Subscription::new(sid, filter.to_owned(), queue, commands))
    }

    /// Subscribes and calls `callback` with every message, on a task of the client's
    /// [`ClientOptions::spawner`] (the runtime's executor unless set).
    pub async fn subscribe_callback<F>(
        &self,
        filter: &str,
        callback: F,
    ) -> Result<CallbackSubscription<R>, SubscribeError>
    where
        F: FnMut(Message) + Send + 'static,
    {
        self.subscribe_callback_with(filter, SubscribeOptions::default(), callback)
            .await
    }

    /// [`Client::subscribe_callback`] with options, as [`Client::subscribe_with`] takes them.
    pub async fn subscribe_callback_with<F>(
        &self,
        filter: &str,
        options: SubscribeOptions,
        callback: F,
    ) -> Result<CallbackSubscription<R>, SubscribeError>
    where
        F: FnMut(Message) + Send + 'static,
    {
        let subscription = self.subscribe_with(filter, options).await?;
        Ok(CallbackSubscription::spawn(
            &self.inner.spawner,
            subscription,
            self.inner.shared.slow_callback(),
            callback,
        ))
    }

    /// The client's events (disconnects, slow consumers, server errors).
    pub fn events(&self) -> Events {
        Events(Box::pin(self.inner.events.clone()))
    }

    /// The core client's counters.
    pub async fn stats(&self) -> Result<ClientStats, ClosedError> {
        let make = |done| Command::Stats { done };
        let stats = self.call(self.timeout(), Duration::ZERO, make).await;
        stats.map_err(|_| ClosedError)
    }

    /// Closes the connection at once: the server is told (CLOSE, acknowledged within the core's
    /// close linger), and every subscription stream ends after what it already holds. Publishes
    /// still waiting in the client's outbox behind a full KCP send buffer are dropped; use
    /// [`Client::drain`] to have everything sent first. Waits at most the operation timeout for
    /// the driver to confirm.
    pub async fn close(&self) {
        let _ = self.close_timeout(self.timeout()).await;
    }

    /// [`Client::close`], waiting at most `timeout` for the driver to confirm.
    pub async fn close_timeout(&self, timeout: Duration) -> Result<(), CloseError> {
        let make = |done| Command::Close { done: Some(done) };
        CloseError::from_wait(self.call(timeout, Duration::ZERO, make).await)
    }

    /// Drains, then closes, like NATS's drain: every subscription is withdrawn, messages the
    /// server routed before it processed that are still delivered, what waits to be sent
    /// (publishes made before this call included) reaches the server, and the session closes,
    /// within `timeout` (then it closes anyway). Returns once the client has closed; subscription
    /// streams still yield what they queued, then end. Publishes, requests and subscriptions
    /// made meanwhile are dropped or refused.
    ///
    /// Messages the server routed before the UNSUB but still holds in a subscription's queue
    /// (beyond its low watermark) are delivered too: the server answers the drain's PING only
    /// after them.
    ///
    /// Waits at most `timeout` plus the core's close linger plus the operation timeout.
    pub async fn drain(&self, timeout: Duration) -> Result<(), DrainError> {
        let bound = self.inner.shared.drain_wait(timeout);
        let make = |done| Command::Drain { timeout, done };
        self.call(bound, Duration::ZERO, make).await?
    }
}
