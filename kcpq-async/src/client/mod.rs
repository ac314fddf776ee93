//! The async client: [`Client`] is a cheap, cloneable handle to a driver task that owns the UDP
//! socket and the core's client state machine.

mod driver;
mod error;
mod subscription;

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures_lite::Stream;
use kcpq_core::CloseReason;
use kcpq_core::client::{ClientConfig, ClientStats, SubscribeOptions, check_publish};
use kcpq_core::crypto::KeySet;
use kcpq_core::subject::SubjectLimits;

pub use error::{
    CloseError, ClosedError, ConnectError, DrainError, FlushError, PublishError, RequestError,
    SubscribeError, UnsubscribeError,
};
pub use subscription::{CallbackSubscription, Subscription};

use crate::message::Message;
use crate::runtime::Runtime;
use crate::socket::{SocketOptions, UdpIo};
use crate::timeout::{Elapsed, with_timeout};
use driver::{Command, Driver};
use kcpq_core::adapter::{DriverThread, REPLY_MARGIN, headers_block};
use kcpq_os::{Clock, fresh_seed};

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

/// The session's names, learnt at connect.
#[derive(Debug, Clone)]
pub(crate) struct Connected {
    server_name: String,
    client_name: String,
}

#[derive(Debug)]
struct Inner<R: Runtime> {
    commands: Sender<Command>,
    /// The server's payload limit, kept current by the driver.
    max_payload: Arc<AtomicUsize>,
    subject_limits: SubjectLimits,
    events: Receiver<Event>,
    connected: Connected,
    /// The server's address.
    server: SocketAddr,
    operation_timeout: Duration,
    /// The core's `close_linger`: how long a closing session waits for its CLOSE's ACK.
    close_linger: Duration,
    /// Where callback subscriptions run.
    spawner: R::Spawner,
    /// The threshold of a slow callback.
    slow_callback: Duration,
    /// Where the driver runs (see [`DriverThread`]).
    driver_thread: DriverThread,
}

impl<R: Runtime> Drop for Inner<R> {
    /// The last handle is gone: close as [`Client::close`] does, without waiting for the
    /// server's answer, but long enough (bounded) for the CLOSE to leave (see
    /// [`DriverThread::close_send_wait`]).
    fn drop(&mut self) {
        let (sent, wait) = std::sync::mpsc::sync_channel(1);
        // Refused when the client is closed already, or when the command queue is full: then
        // the driver closes once the last subscription is dropped too (every sender gone).
        if self.commands.try_send(Command::Dropped { sent }).is_ok()
            && let Some(bound) = self.driver_thread.close_send_wait()
        {
            let _ = wait.recv_timeout(bound);
        }
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
        config.handshake.connect_timeout = options.connect_timeout;
        let bind = options.bind.unwrap_or(match options.server {
            SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
            SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
        });
        let mut io = UdpIo::<R::Socket>::bind(bind, &options.socket, config.kcp.mtu + 64)
            .map_err(ConnectError::Io)?;
        let seed = fresh_seed().map_err(ConnectError::Io)?;
        let default_queue = (config.subscription_limits, config.subscription_policy);
        let subject_limits = config.subject_limits;
        let close_linger = config.close_linger;
        let max_payload = Arc::new(AtomicUsize::new(kcpq_core::server::DEFAULT_MAX_PAYLOAD));
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
        let driver_thread = DriverThread::default();
        let mut driver = Driver::new(
            core,
            default_queue,
            clock,
            connect_tx,
            event_tx,
            max_payload.clone(),
            driver_thread.clone(),
        );
        R::spawn_detached(&options.spawner, async move {
            crate::event_loop::run::<R, _>(&mut driver, &mut io, clock, &command_rx).await;
            driver.finish();
        });
        // The handshake times out by itself; the margin covers a silent driver.
        let bound = options.connect_timeout + REPLY_MARGIN;
        let connected = match with_timeout::<R, _>(bound, connect_rx.recv()).await {
            Ok(Ok(result)) => result?,
            Ok(Err(_)) => return Err(ConnectError::Disconnected(CloseReason::Local)),
            Err(Elapsed) => return Err(ConnectError::TimedOut(options.connect_timeout)),
        };
        Ok(Client {
            inner: Arc::new(Inner {
                commands,
                max_payload,
                subject_limits,
                events,
                connected,
                server: options.server,
                operation_timeout: options.operation_timeout,
                close_linger,
                spawner: options.spawner,
                slow_callback: options.slow_callback,
                driver_thread,
            }),
        })
    }

    /// The server's address.
    pub fn server_addr(&self) -> SocketAddr {
        self.inner.server
    }

    /// The largest payload the server accepts (from its INFO; checked on publish).
    pub fn max_payload(&self) -> usize {
        self.inner.max_payload.load(Ordering::Relaxed)
    }

    /// The server's name.
    pub fn server_name(&self) -> &str {
        &self.inner.connected.server_name
    }

    /// This client's name as the server knows it.
    pub fn client_name(&self) -> &str {
        &self.inner.connected.client_name
    }

    /// Sends `command` and waits for its answer, within `timeout`.
    async fn call<T>(
        &self,
        timeout: Duration,
        make: impl FnOnce(Sender<T>) -> Command,
    ) -> Result<T, CallError> {
        let (done, answer) = oneshot();
        let exchange = async {
            self.inner
                .commands
                .send(make(done))
                .await
                .map_err(|_| CallError::Closed)?;
            answer.recv().await.map_err(|_| CallError::Closed)
        };
        with_timeout::<R, _>(timeout, exchange)
            .await
            .unwrap_or(Err(CallError::TimedOut))
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
        check_publish(
            &self.inner.subject_limits,
            self.inner.max_payload.load(Ordering::Relaxed),
            subject,
            reply,
            None,
            payload.len(),
        )?;
        let command = Command::Send(driver::Send {
            subject: subject.into(),
            reply: reply.map(Box::from),
            payload,
        });
        let command = match self.inner.commands.try_send(command) {
            Ok(()) => return Ok(()),
            Err(async_channel::TrySendError::Closed(_)) => return Err(PublishError::Closed),
            Err(async_channel::TrySendError::Full(command)) => command,
        };
        let timeout = self.inner.operation_timeout;
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
        let timeout = self.inner.operation_timeout;
        let result = self
            .call(timeout, |done| {
                Command::Publish(Box::new(driver::Publish {
                    subject: subject.to_owned(),
                    reply: reply.map(str::to_owned),
                    headers,
                    payload,
                    done,
                }))
            })
            .await;
        match result {
            Ok(result) => result,
            Err(CallError::Closed) => Err(PublishError::Closed),
            Err(CallError::TimedOut) => Err(PublishError::TimedOut(timeout)),
        }
    }

    /// Sends a request and waits up to `timeout` for the first reply.
    pub async fn request(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, RequestError> {
        let payload = payload.into();
        self.await_request(timeout, |done| Command::Request {
            subject: subject.into(),
            payload,
            timeout,
            done,
        })
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
        let block = headers_block(headers).map_err(|e| RequestError::Invalid(e.into()))?;
        let payload = payload.into();
        self.await_request(timeout, |done| {
            Command::HeadedRequest(Box::new(driver::HeadedRequest {
                subject: subject.into(),
                headers: block,
                payload,
                timeout,
                done,
            }))
        })
        .await
    }

    /// Sends the request `make` builds and waits for its outcome; the core times the request
    /// out itself, the extra second covers a busy driver.
    async fn await_request(
        &self,
        timeout: Duration,
        make: impl FnOnce(Sender<Result<Message, RequestError>>) -> Command,
    ) -> Result<Message, RequestError> {
        match self.call(timeout + REPLY_MARGIN, make).await {
            Ok(result) => result,
            Err(CallError::Closed) => Err(RequestError::Closed),
            Err(CallError::TimedOut) => Err(RequestError::TimedOut(timeout)),
        }
    }

    /// Waits until the server has processed everything sent before (a round trip), within the
    /// operation timeout.
    pub async fn flush(&self) -> Result<(), FlushError> {
        self.flush_timeout(self.inner.operation_timeout).await
    }

    /// [`Client::flush`] with its own timeout.
    pub async fn flush_timeout(&self, timeout: Duration) -> Result<(), FlushError> {
        let result = self
            .call(timeout + REPLY_MARGIN, |done| Command::Flush {
                timeout,
                done,
            })
            .await;
        match result {
            Ok(result) => result,
            Err(CallError::Closed) => Err(FlushError::Closed),
            Err(CallError::TimedOut) => Err(FlushError::TimedOut(timeout)),
        }
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
        let timeout = self.inner.operation_timeout;
        let result = self
            .call(timeout, |done| {
                Command::Subscribe(Box::new(driver::Subscribe {
                    filter: filter.to_owned(),
                    options,
                    done,
                }))
            })
            .await;
        let (sid, queue) = match result {
            Ok(result) => result?,
            Err(CallError::Closed) => return Err(SubscribeError::Closed),
            Err(CallError::TimedOut) => return Err(SubscribeError::TimedOut(timeout)),
        };
        Ok(Subscription::new(
            sid,
            filter.to_owned(),
            queue,
            self.inner.commands.clone(),
        ))
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
            self.inner.slow_callback,
            callback,
        ))
    }

    /// The client's events (disconnects, slow consumers, server errors).
    pub fn events(&self) -> Events {
        Events(Box::pin(self.inner.events.clone()))
    }

    /// The core client's counters.
    pub async fn stats(&self) -> Result<ClientStats, ClosedError> {
        self.call(self.inner.operation_timeout, |done| Command::Stats { done })
            .await
            .map_err(|_| ClosedError)
    }

    /// Closes the connection at once: the server is told (CLOSE, acknowledged within the core's
    /// close linger), and every subscription stream ends after what it already holds. Publishes
    /// still waiting in the client's outbox behind a full KCP send buffer are dropped; use
    /// [`Client::drain`] to have everything sent first. Waits at most the operation timeout for
    /// the driver to confirm.
    pub async fn close(&self) {
        let _ = self.close_timeout(self.inner.operation_timeout).await;
    }

    /// [`Client::close`], waiting at most `timeout` for the driver to confirm.
    pub async fn close_timeout(&self, timeout: Duration) -> Result<(), CloseError> {
        match self.call(timeout, |done| Command::Close { done }).await {
            Ok(()) | Err(CallError::Closed) => Ok(()),
            Err(CallError::TimedOut) => Err(CloseError::TimedOut(timeout)),
        }
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
        // The core closes at the latest after `timeout`, then lingers for the CLOSE's ACK; the
        // operation timeout covers a full command queue and a busy driver.
        let bound = timeout + self.inner.close_linger + self.inner.operation_timeout;
        let result = self
            .call(bound, |done| Command::Drain { timeout, done })
            .await;
        match result {
            Ok(result) => result,
            Err(CallError::Closed) => Err(DrainError::Closed),
            Err(CallError::TimedOut) => Err(DrainError::TimedOut(bound)),
        }
    }
}

/// Why a command got no answer.
enum CallError {
    Closed,
    TimedOut,
}
