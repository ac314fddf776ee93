//! The broker, embeddable in an application: [`Server::bind`] opens the socket, [`Server::run`]
//! drives the core until [`ServerHandle::shutdown`] or [`ServerHandle::drain`].

mod owner;

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_channel::{Receiver, Sender};
use bytes::Bytes;
use futures_lite::Stream;
use kcpq_core::adapter::{SubscriptionQueues, owner_headers};
use kcpq_core::client::SubscribeOptions;
use kcpq_core::crypto::KeySet;
use kcpq_core::server::{ServerConfig, ServerConfigError, ServerStats, WorkerGroupError};

use crate::channels::Async;
use crate::inbox::SubQueue;
use crate::message::Message;
use crate::runtime::Runtime;
use crate::socket::{SocketOptions, UdpIo};
use kcpq_core::adapter::{
    CrossIn, CrossOut, Doorbell, check_workers, cross_lanes, total_stats, worker_cores,
};
use kcpq_core::adapter::{Driver as _, ServerCommand, ServerDriver};
pub use kcpq_core::adapter::{ServerEvent, SessionInfo};
use kcpq_os::{Clock, fresh_seed};
pub use owner::{ServerPublishError, ServerRequestError, ServerSubscribeError, ServerSubscription};

/// What [`ServerHandle`]s ask of the driver: the shared server driver's commands.
type Command = ServerCommand<Async>;

pub use kcpq_core::adapter::DEFAULT_SERVER_EVENT_CAPACITY;
/// Bound of queries waiting for the driver.
const COMMAND_CAPACITY: usize = 256;

/// Settings of [`Server::bind_with`] beyond the core's configuration.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions<R: Runtime> {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The keys clients may use.
    pub keys: KeySet,
    /// The core server's settings (limits, heartbeats, KCP).
    pub config: ServerConfig,
    /// Socket buffer sizes.
    pub socket: SocketOptions,
    /// Bound of the event queue.
    pub event_capacity: usize,
    /// Where [`Server::spawn`] runs the server (the runtime's executor unless set).
    pub spawner: R::Spawner,
    /// Worker threads (default 1): each owns a share of the sessions and its own socket on
    /// the same address (SO_REUSEPORT), and all act as one server. Worker 0 runs where
    /// [`Server::run`] runs; the others on threads of their own.
    pub workers: usize,
}

impl<R: Runtime> ServerOptions<R> {
    /// Defaults for listening on `listen` with `keys`.
    pub fn new(listen: SocketAddr, keys: KeySet) -> ServerOptions<R> {
        ServerOptions {
            listen,
            keys,
            config: ServerConfig::default(),
            socket: SocketOptions::default(),
            event_capacity: DEFAULT_SERVER_EVENT_CAPACITY,
            spawner: R::Spawner::default(),
            workers: 1,
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The configuration cannot work.
    #[error("invalid server configuration: {0}")]
    Config(#[from] ServerConfigError),
    /// The socket could not be bound.
    #[error("cannot listen on UDP {addr}: {source}")]
    Socket {
        /// The address.
        addr: SocketAddr,
        /// The system's reason.
        source: std::io::Error,
    },
    /// No operating-system randomness to seed the server with.
    #[error("cannot read operating-system randomness: {0}")]
    Random(std::io::Error),
    /// The worker count is out of range.
    #[error(transparent)]
    Workers(#[from] WorkerGroupError),
    /// A worker thread could not be started.
    #[error("cannot start a server worker thread: {0}")]
    Thread(std::io::Error),
}

/// A bound broker, ready to [`run`](Server::run).
#[derive(Debug)]
pub struct Server<R: Runtime> {
    io: UdpIo<R::Socket>,
    options: ServerOptions<R>,
    commands: Sender<Command>,
    command_rx: Receiver<Command>,
    events: Receiver<ServerEvent>,
    event_tx: Sender<ServerEvent>,
    local_addr: SocketAddr,
    /// Workers 1.. : their bound sockets, registered on their own threads.
    extra: Vec<ExtraWorker>,
}

/// The way between `count` workers (none for one): each worker's ends of the lanes and the
/// receiving side of its doorbell, a channel of one (ringing a rung bell does nothing).
fn cross_links(count: usize) -> Vec<((CrossOut, CrossIn), Receiver<()>)> {
    if count < 2 {
        return Vec::new();
    }
    let (bells, rings): (Vec<Doorbell>, Vec<_>) = (0..count)
        .map(|_| {
            let (ring, rung) = async_channel::bounded(1);
            let bell: Doorbell = Box::new(move || _ = ring.try_send(()));
            (bell, rung)
        })
        .unzip();
    cross_lanes(bells).into_iter().zip(rings).collect()
}

/// The driver of one worker: with its ends of the way to the others, if it has any.
fn worker_driver(
    core: kcpq_core::server::Server,
    events: Sender<ServerEvent>,
    wall_epoch: std::time::SystemTime,
    cross: Option<(CrossOut, CrossIn)>,
) -> ServerDriver<Async> {
    match cross {
        Some(cross) => ServerDriver::with_peers(core, events, wall_epoch, cross),
        None => ServerDriver::new(core, events, wall_epoch),
    }
}

/// A worker beyond the first, before it runs.
#[derive(Debug)]
struct ExtraWorker {
    socket: std::net::UdpSocket,
    commands: Sender<Command>,
    command_rx: Receiver<Command>,
}

/// A cloneable handle to a running (or about to run) server.
#[derive(Debug, Clone)]
pub struct ServerHandle {
    commands: Sender<Command>,
    events: Receiver<ServerEvent>,
    local_addr: SocketAddr,
    /// The command channels of workers 1.. (queries and stops that concern every worker).
    workers: Vec<Sender<Command>>,
}

/// The server has stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the server has stopped")]
pub struct StoppedError;

impl<R: Runtime> Server<R> {
    /// Binds `addr` with `keys` and `config` (default socket options).
    pub async fn bind(
        addr: SocketAddr,
        keys: KeySet,
        config: ServerConfig,
    ) -> Result<Server<R>, BindError> {
        let mut options = ServerOptions::new(addr, keys);
        options.config = config;
        Server::bind_with(options).await
    }

    /// Binds with `options`.
    pub async fn bind_with(options: ServerOptions<R>) -> Result<Server<R>, BindError> {
        options.config.validate()?;
        check_workers(options.workers)?;
        let addr = options.listen;
        let (recv_buffer, send_buffer) = (options.socket.recv_buffer, options.socket.send_buffer);
        let max_datagram = kcpq_os::udp::max_datagram(options.config.kcp.mtu);
        let sockets = kcpq_os::bind_workers(addr, options.workers, recv_buffer, send_buffer);
        let mut sockets = sockets
            .map_err(|source| BindError::Socket { addr, source })?
            .into_iter();
        let first = sockets.next().expect("one socket per worker");
        let io = UdpIo::<R::Socket>::register(first, &options.socket, max_datagram)
            .map_err(|source| BindError::Socket { addr, source })?;
        let local_addr = io
            .local_addr()
            .map_err(|source| BindError::Socket { addr, source })?;
        // The others are registered on their own threads when the server runs.
        let extra = sockets
            .map(|socket| {
                let (commands, command_rx) = async_channel::bounded(COMMAND_CAPACITY);
                ExtraWorker {
                    socket,
                    commands,
                    command_rx,
                }
            })
            .collect();
        let (commands, command_rx) = async_channel::bounded(COMMAND_CAPACITY);
        let (event_tx, events) = async_channel::bounded(options.event_capacity.max(1));
        Ok(Server {
            io,
            options,
            commands,
            command_rx,
            events,
            event_tx,
            local_addr,
            extra,
        })
    }

    /// The address the server listens on (with the port the system chose for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// A handle to query and stop the server once it runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            commands: self.commands.clone(),
            events: self.events.clone(),
            local_addr: self.local_addr,
            workers: self.extra.iter().map(|w| w.commands.clone()).collect(),
        }
    }

    /// Runs the broker until [`ServerHandle::shutdown`] or [`ServerHandle::drain`]. The core is
    /// seeded from fresh operating-system randomness.
    pub async fn run(self) -> Result<(), BindError> {
        let Server {
            mut io,
            options,
            commands,
            command_rx,
            event_tx,
            local_addr,
            extra,
            ..
        } = self;
        kcpq_os::tune_packet_tags();
        let clock = Clock::start();
        let count = options.workers;
        let config = &options.config;
        let (mut links, mut bells): (Vec<_>, Vec<_>) = cross_links(count)
            .into_iter()
            .map(|(ends, bell)| (Some(ends), Some(bell)))
            .unzip();
        links.resize_with(count, || None);
        bells.resize_with(count, || None);
        let mut links = links.into_iter().zip(bells);
        let (own_cross, own_bell) = links.next().expect("at least one worker");
        let seed = || fresh_seed().map_err(BindError::Random);
        let cores = worker_cores::<_, BindError>(config, &options.keys, count, clock.now(), seed);
        let mut cores = cores?.into_iter();
        let core = cores.next().expect("at least one worker");
        let mut stopped = Vec::new();
        for ((index, worker), (core, (cross, bell))) in (1..).zip(extra).zip(cores.zip(links)) {
            let (done, finished) = async_channel::bounded::<()>(1);
            stopped.push(finished);
            let event_tx = event_tx.clone();
            let socket_options = options.socket.clone();
            let max_datagram = kcpq_os::udp::max_datagram(config.kcp.mtu);
            R::run_on_new_thread(format!("kcpq-worker-{index}"), move || async move {
                let mut io = match UdpIo::<R::Socket>::register(
                    worker.socket,
                    &socket_options,
                    max_datagram,
                ) {
                    Ok(io) => io,
                    Err(e) => {
                        log::error!("server worker {index} cannot use its socket: {e}");
                        return;
                    }
                };
                let mut driver = worker_driver(core, event_tx, clock.wall_epoch(), cross);
                let (commands, peers) = (&worker.command_rx, bell.as_ref());
                crate::event_loop::run::<R, _>(&mut driver, &mut io, clock, commands, peers, 1)
                    .await;
                drop(io);
                drop(worker.commands);
                driver.finish();
                drop(done);
            })
            .map_err(BindError::Thread)?;
        }
        if count > 1 {
            log::info!("KCPQ server listening on udp://{local_addr} with {count} workers");
        } else {
            log::info!("KCPQ server listening on udp://{local_addr}");
        }
        let mut driver = worker_driver(core, event_tx, clock.wall_epoch(), own_cross);
        let peers = own_bell.as_ref();
        crate::event_loop::run::<R, _>(&mut driver, &mut io, clock, &command_rx, peers, 1).await;
        // Free the port before telling anyone the server stopped, so it can be bound again.
        drop(io);
        for finished in stopped {
            // Each worker's sender is dropped when its loop ends.
            let _ = finished.recv().await;
        }
        drop(commands);
        driver.finish();
        Ok(())
    }

    /// Spawns [`Server::run`] on [`ServerOptions::spawner`] (the runtime's executor unless
    /// set) and returns a handle.
    pub fn spawn(self) -> ServerHandle {
        let handle = self.handle();
        let spawner = self.options.spawner.clone();
        R::spawn_detached(&spawner, async move {
            if let Err(e) = self.run().await {
                log::error!("server stopped: {e}");
            }
        });
        handle
    }
}

impl ServerHandle {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    async fn ask<T>(&self, make: impl FnOnce(Sender<T>) -> Command) -> Result<T, StoppedError> {
        let (done, answer) = async_channel::bounded(1);
        self.commands
            .send(make(done))
            .await
            .map_err(|_| StoppedError)?;
        answer.recv().await.map_err(|_| StoppedError)
    }

    /// Asks every worker at once and collects their answers, worker 0 first.
    async fn ask_all<T>(
        &self,
        make: impl Fn(Sender<T>) -> Command,
    ) -> Result<Vec<T>, StoppedError> {
        let mut answers = Vec::with_capacity(1 + self.workers.len());
        for commands in std::iter::once(&self.commands).chain(&self.workers) {
            let (done, answer) = async_channel::bounded(1);
            commands.send(make(done)).await.map_err(|_| StoppedError)?;
            answers.push(answer);
        }
        let mut results = Vec::with_capacity(answers.len());
        for answer in answers {
            results.push(answer.recv().await.map_err(|_| StoppedError)?);
        }
        Ok(results)
    }

    /// Server-wide counters: the sum over the server's workers.
    pub async fn stats(&self) -> Result<ServerStats, StoppedError> {
        Ok(total_stats(
            self.ask_all(|done| Command::Stats { done }).await?,
        ))
    }

    /// Each worker's counters, worker 0 first.
    pub async fn worker_stats(&self) -> Result<Vec<ServerStats>, StoppedError> {
        self.ask_all(|done| Command::Stats { done }).await
    }

    /// How many workers the server runs.
    pub fn workers(&self) -> usize {
        1 + self.workers.len()
    }

    /// Every connected client, on every worker.
    pub async fn sessions(&self) -> Result<Vec<SessionInfo>, StoppedError> {
        let all = self.ask_all(|done| Command::Sessions { done }).await?;
        Ok(all.into_iter().flatten().collect())
    }

    /// The server's events. Several streams share them: each event goes to one of them.
    pub fn events(&self) -> ServerEvents {
        ServerEvents(Box::pin(self.events.clone()))
    }

    /// Sends CLOSE to every client and returns once every session is closed (acknowledged, or
    /// after the configured `shutdown_linger`) and [`Server::run`] has ended.
    pub async fn shutdown(&self, reason: &str) {
        let _ = self
            .ask_all(|done| Command::shutdown(reason, Some(done)))
            .await;
    }

    /// Drains, then shuts down: refuses new sessions and publishes at once, keeps delivering
    /// what the subscription queues hold for at most `timeout`, then sends CLOSE to every
    /// client as [`ServerHandle::shutdown`] does. Returns once every session is closed and
    /// [`Server::run`] has ended. A server already draining or shutting down goes on as it was.
    pub async fn drain(&self, timeout: Duration) {
        let _ = self.ask_all(|done| Command::Drain { timeout, done }).await;
    }
}

impl ServerHandle {
    /// Publishes `payload` on `subject` to every matching subscription, as a client would.
    pub async fn publish(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), ServerPublishError> {
        self.owner_publish(None, subject, None, None, payload.into())
            .await
    }

    /// Publishes only to the matching subscriptions of the client named `client`
    /// ([`ServerPublishError::Refused`] with `UnknownClient` if none is connected).
    pub async fn publish_to(
        &self,
        client: &str,
        subject: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), ServerPublishError> {
        self.owner_publish(Some(client), subject, None, None, payload.into())
            .await
    }

    /// Publishes with a reply subject (to everyone, or to one client by name).
    pub async fn publish_with_reply(
        &self,
        client: Option<&str>,
        subject: &str,
        reply: &str,
        payload: impl Into<Bytes>,
    ) -> Result<(), ServerPublishError> {
        self.owner_publish(client, subject, Some(reply), None, payload.into())
            .await
    }

    /// Publishes with headers (name, value pairs) and an optional reply subject, to everyone
    /// or to one client by name.
    pub async fn publish_with_headers(
        &self,
        client: Option<&str>,
        subject: &str,
        reply: Option<&str>,
        headers: &[(&str, &str)],
        payload: impl Into<Bytes>,
    ) -> Result<(), ServerPublishError> {
        let headers = owner_headers(headers)?;
        self.owner_publish(client, subject, reply, headers, payload.into())
            .await
    }

    async fn owner_publish(
        &self,
        client: Option<&str>,
        subject: &str,
        reply: Option<&str>,
        headers: Option<Vec<u8>>,
        payload: Bytes,
    ) -> Result<(), ServerPublishError> {
        self.ask(|done| Command::publish(client, subject, reply, headers, payload, done))
            .await
            .map_err(|_| ServerPublishError::Stopped)?
    }

    /// Sends a request to whoever subscribes to `subject` and waits up to `timeout` for the
    /// first reply.
    pub async fn request(
        &self,
        subject: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, ServerRequestError> {
        self.owner_request(None, subject, None, payload.into(), timeout)
            .await
    }

    /// Sends a request to the matching subscriptions of the client named `client` only.
    pub async fn request_to(
        &self,
        client: &str,
        subject: &str,
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, ServerRequestError> {
        self.owner_request(Some(client), subject, None, payload.into(), timeout)
            .await
    }

    /// Sends a request with headers (name, value pairs), to everyone (`client: None`) or to
    /// one client by name, and waits up to `timeout` for the first reply.
    pub async fn request_with_headers(
        &self,
        client: Option<&str>,
        subject: &str,
        headers: &[(&str, &str)],
        payload: impl Into<Bytes>,
        timeout: Duration,
    ) -> Result<Message, ServerRequestError> {
        let headers = owner_headers(headers)?;
        self.owner_request(client, subject, headers, payload.into(), timeout)
            .await
    }

    async fn owner_request(
        &self,
        client: Option<&str>,
        subject: &str,
        headers: Option<Vec<u8>>,
        payload: Bytes,
        timeout: Duration,
    ) -> Result<Message, ServerRequestError> {
        self.ask(|done| Command::request(client, subject, headers, payload, timeout, done))
            .await
            .map_err(|_| ServerRequestError::Stopped)?
    }

    /// Subscribes the server's owner to `filter` (`*` matches one token, `>` the rest).
    pub async fn subscribe(
        &self,
        filter: &str,
    ) -> Result<ServerSubscription, ServerSubscribeError> {
        self.subscribe_with(filter, SubscribeOptions::default())
            .await
    }

    /// Subscribes the server's owner as a member of queue group `queue`, shared with clients:
    /// each message goes to one member.
    pub async fn queue_subscribe(
        &self,
        filter: &str,
        queue: &str,
    ) -> Result<ServerSubscription, ServerSubscribeError> {
        self.subscribe_with(filter, SubscribeOptions::queue_group(queue))
            .await
    }

    /// Subscribes the server's owner with options: queue group, the bound and overflow policy
    /// of the subscription's queue (the defaults where unset).
    pub async fn subscribe_with(
        &self,
        filter: &str,
        options: SubscribeOptions,
    ) -> Result<ServerSubscription, ServerSubscribeError> {
        let queues = SubscriptionQueues::owner(options);
        let inbox = queues.inbox::<Async>();
        let (queue, group) = (SubQueue(Arc::clone(&inbox)), queues.core.queue_group);
        let subscribed = self.ask(|done| Command::subscribe(filter, group, inbox, done));
        let sid = subscribed
            .await
            .map_err(|_| ServerSubscribeError::Stopped)??;
        Ok(ServerSubscription::new(sid, queue, self.commands.clone()))
    }
}

/// The stream of [`ServerEvent`]s.
#[derive(Debug)]
pub struct ServerEvents(Pin<Box<Receiver<ServerEvent>>>);

impl Stream for ServerEvents {
    type Item = ServerEvent;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ServerEvent>> {
        self.0.as_mut().poll_next(cx)
    }
}
