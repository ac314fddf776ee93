//! The blocking server: a handle over the I/O threads that drive its `kcpq_core` workers (one
//! unless [`ServerOptions::workers`] says more), each with its own socket on the same address.

mod error;
mod owner;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::sync::mpsc::{self, SyncSender};
use std::time::Duration;

use kcpq_core::adapter::{DEFAULT_SERVER_EVENT_CAPACITY, DEFAULT_SOCKET_BUFFER, ServerCommand};
use kcpq_core::adapter::{Doorbell, cross_lanes, total_stats, worker_cores};
use kcpq_core::adapter::{ServerDriver, ServerEvent, SessionInfo, WaitError, check_workers};
use kcpq_core::crypto::KeySet;
use kcpq_core::server::{ServerConfig, ServerStats};
use kcpq_os::{Clock, fresh_seed};

use crate::driver::IoThread;
use crate::events::{Events, events};
use crate::io::{IoSocket, Waker};
use crate::link::{Deadline, Link, Std, await_reply, deadline_after, link};

/// What handles send the I/O threads.
type Command = ServerCommand<Std>;

pub use error::{BindError, QueryError, ShutdownError};

/// Bound of commands from handles to each of the server's I/O threads.
const COMMAND_CAPACITY: usize = 64;
/// Bound of a call (a query, or the owner's publish or subscribe) without its own timeout.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The reason sent to clients in CLOSE at shutdown.
const SHUTDOWN_REASON: &str = "server shutting down";
/// Bound of `shutdown` and `Drop`: above the core's shutdown linger (1 s by default).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Settings of [`Server::bind_with`] beyond the core's configuration, named as kcpq-async's.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerOptions {
    /// The address to listen on.
    pub listen: SocketAddr,
    /// The keys clients may use.
    pub keys: KeySet,
    /// The core server's settings (limits, heartbeats, KCP).
    pub config: ServerConfig,
    /// Workers (default 1): each owns a share of the sessions, its own socket on the same
    /// address (SO_REUSEPORT) and its own I/O thread, and all act as one server.
    pub workers: usize,
    /// Bound of undelivered events (default [`DEFAULT_SERVER_EVENT_CAPACITY`]); beyond it new
    /// events are dropped and counted.
    pub event_capacity: usize,
    /// Batch datagrams with the kernel's offloads where available (default `true`), as
    /// [`ClientOptions::udp_offload`](crate::ClientOptions::udp_offload).
    pub udp_offload: bool,
}

impl ServerOptions {
    /// Defaults for listening on `listen` with `keys`.
    pub fn new(listen: SocketAddr, keys: KeySet) -> ServerOptions {
        ServerOptions {
            listen,
            keys,
            config: ServerConfig::default(),
            workers: 1,
            event_capacity: DEFAULT_SERVER_EVENT_CAPACITY,
            udp_offload: true,
        }
    }
}

/// A KCPQ broker running on its own threads (one per worker). Dropping it shuts it down and
/// waits for them.
///
/// Its owner takes part in the traffic too ([`Server::publish`], [`Server::publish_to`],
/// [`Server::subscribe`], [`Server::request`], [`Server::request_to`]); its subscriptions are
/// ordinary [`Subscription`](crate::Subscription)s. Each of these calls waits for worker 0's
/// I/O thread to apply it (not for the network): the core's refusal comes back from the call
/// itself, and a publish that returned `Ok` is already queued for every matching subscriber on
/// that worker, and on its way to the others.
#[derive(Debug)]
pub struct Server {
    /// Worker 0's channel, which takes the owner's calls.
    link: Link<Command>,
    /// Each worker's channel and I/O thread, worker 0 first.
    workers: Vec<(Link<Command>, IoThread)>,
    events: Events<ServerEvent>,
    local_addr: SocketAddr,
    shutdown_linger: Duration,
}

impl Server {
    /// Binds a UDP socket at `addr` (the first address it resolves to; port 0: an ephemeral
    /// port) and starts the broker with `keys` (all accepted) and `config`, on one worker.
    pub fn bind(
        addr: impl ToSocketAddrs,
        keys: KeySet,
        config: ServerConfig,
    ) -> Result<Server, BindError> {
        let listen = addr.to_socket_addrs()?.next();
        let none = || std::io::Error::new(std::io::ErrorKind::NotFound, "no address to bind");
        let mut options = ServerOptions::new(listen.ok_or_else(none)?, keys);
        options.config = config;
        Server::bind_with(options)
    }

    /// Binds with `options` and starts the broker's workers. With several, the address is
    /// first bound alone, so an address in use is refused as with one.
    pub fn bind_with(options: ServerOptions) -> Result<Server, BindError> {
        let (config, count, buffer) = (&options.config, options.workers, DEFAULT_SOCKET_BUFFER);
        config.validate()?;
        check_workers(count)?;
        let sockets = kcpq_os::bind_workers(options.listen, count, buffer, buffer)?;
        let local_addr = sockets[0].local_addr()?;
        kcpq_os::tune_packet_tags();
        let clock = Clock::start();
        let cores =
            worker_cores::<_, BindError>(config, &options.keys, count, clock.now(), fresh_seed);
        let (sink, events) = events(options.event_capacity.max(1));
        let (mut ios, mut wakers) = (Vec::new(), Vec::new());
        for socket in sockets {
            let max_datagram = kcpq_os::udp::max_datagram(config.kcp.mtu);
            let (io, waker) = IoSocket::new(socket, options.udp_offload, max_datagram)?;
            ios.push(io);
            wakers.push(waker);
        }
        // The way between workers: each worker's doorbell is its I/O thread's waker.
        let mut lanes = match count {
            1 => Vec::new(),
            _ => cross_lanes(wakers.iter().map(|w| doorbell(Arc::clone(w))).collect()),
        }
        .into_iter();
        let mut workers = Vec::with_capacity(count);
        for ((core, io), waker) in cores?.into_iter().zip(ios).zip(wakers) {
            let (link, commands) = link(COMMAND_CAPACITY, waker);
            let index = core.worker_index();
            let (sink, epoch) = (Arc::clone(&sink), clock.wall_epoch());
            let driver = match lanes.next() {
                Some(cross) => ServerDriver::<Std>::with_peers(core, sink, epoch, cross),
                None => ServerDriver::<Std>::new(core, sink, epoch),
            };
            let name = match index {
                0 => "kcpq-server".to_owned(),
                _ => format!("kcpq-worker-{index}"),
            };
            workers.push((link, IoThread::spawn(&name, driver, commands, io, clock)?));
        }
        Ok(Server {
            link: workers[0].0.clone(),
            workers,
            events,
            local_addr,
            shutdown_linger: config.shutdown_linger,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many workers the server runs.
    pub fn workers(&self) -> usize {
        self.workers.len()
    }

    /// How many times the I/O threads have woken up so far, all workers together: a
    /// diagnostic; an idle server wakes up only for its sessions' timers.
    pub fn io_wakeups(&self) -> u64 {
        self.workers
            .iter()
            .map(|(_, thread)| thread.wakeups())
            .sum()
    }

    /// The stream of server events (sessions opened and closed, slow consumers, shutdown
    /// complete). Bounded: an application that does not read it loses events, counted in
    /// [`Events::dropped`]. Messages for the owner's subscriptions and replies to its requests go
    /// to their handles, not here; a slow consumer among the owner's own subscriptions is
    /// reported with an empty `name`.
    pub fn events(&self) -> Events<ServerEvent> {
        self.events.clone()
    }

    /// Every session now, on every worker.
    pub fn sessions(&self) -> Result<Vec<SessionInfo>, QueryError> {
        self.sessions_timeout(QUERY_TIMEOUT)
    }

    /// Every session now, waiting at most `timeout` for the I/O threads.
    pub fn sessions_timeout(&self, timeout: Duration) -> Result<Vec<SessionInfo>, QueryError> {
        let all = self.ask_all(|done| Command::Sessions { done }, deadline_after(timeout));
        Ok(all.into_iter().collect::<Result<Vec<_>, _>>()?.concat())
    }

    /// Server-wide counters: the sum over the server's workers.
    pub fn stats(&self) -> Result<ServerStats, QueryError> {
        self.stats_timeout(QUERY_TIMEOUT)
    }

    /// Server-wide counters, waiting at most `timeout` for the I/O threads.
    pub fn stats_timeout(&self, timeout: Duration) -> Result<ServerStats, QueryError> {
        let all = self.ask_all(|done| Command::Stats { done }, deadline_after(timeout));
        Ok(total_stats(all.into_iter().collect::<Result<Vec<_>, _>>()?))
    }

    /// Each worker's counters, worker 0 first.
    pub fn worker_stats(&self) -> Result<Vec<ServerStats>, QueryError> {
        let stats = |done| Command::Stats { done };
        let all = self.ask_all(stats, deadline_after(QUERY_TIMEOUT));
        Ok(all.into_iter().collect::<Result<_, _>>()?)
    }

    /// Asks every worker at once and collects their answers, worker 0 first, by `deadline`.
    fn ask_all<T>(
        &self,
        make: impl Fn(SyncSender<T>) -> Command,
        deadline: Deadline,
    ) -> Vec<Result<T, WaitError>> {
        let ask = |(link, _): &(Link<Command>, _)| {
            let (done, answer) = mpsc::sync_channel(1);
            link.send(make(done), deadline).map(|()| answer)
        };
        let sent: Vec<_> = self.workers.iter().map(ask).collect();
        let answer = |sent: Result<_, _>| sent.and_then(|answer| await_reply(&answer, deadline));
        sent.into_iter().map(answer).collect()
    }

    /// Sends CLOSE to every session, keeps running until each is acknowledged (at most the
    /// configuration's `shutdown_linger`, so lost CLOSE frames are retransmitted), then stops and
    /// joins every worker's thread: the port is free when it returns.
    pub fn shutdown(self) {
        let _ = self.stop(STOP_TIMEOUT);
    }

    /// Shuts down, waiting at most `timeout` for the threads.
    pub fn shutdown_timeout(self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop(timeout)
    }

    /// Drains: refuses new sessions and publishes at once, keeps delivering what subscription
    /// queues hold for at most `timeout`, then shuts down (see [`Server::shutdown`]) and joins
    /// the threads. Returns once every session is closed.
    pub fn drain(self, timeout: Duration) -> Result<(), ShutdownError> {
        let wait = timeout + self.shutdown_linger + STOP_TIMEOUT;
        let make = |done| Command::Drain { timeout, done };
        self.stop_with(make, deadline_after(wait))
    }

    fn stop(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let make = |done| Command::shutdown(SHUTDOWN_REASON, Some(done));
        self.stop_with(make, deadline_after(timeout))
    }

    /// Sends a shutdown or drain to every worker, waits for them until `deadline`, and joins
    /// their threads (a worker already stopped has nothing to wait for).
    fn stop_with(
        &self,
        make: impl Fn(SyncSender<()>) -> Command,
        deadline: Deadline,
    ) -> Result<(), ShutdownError> {
        let timed_out = |answer: &Result<_, _>| matches!(answer, Err(WaitError::TimedOut(_)));
        if self.ask_all(make, deadline).iter().any(timed_out) {
            return Err(ShutdownError::TimedOut);
        }
        self.workers.iter().for_each(|(_, thread)| thread.join());
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop(STOP_TIMEOUT);
    }
}

/// A worker's doorbell: its I/O thread's waker (which writes its eventfd only when the thread
/// may be asleep).
fn doorbell(waker: Arc<Waker>) -> Doorbell {
    Box::new(move || waker.wake())
}
