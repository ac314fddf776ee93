//! The blocking server: a handle over an I/O thread that drives a `kcpq_core` server.

mod error;
mod owner;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::mpsc::SyncSender;
use std::time::Duration;

use kcpq_core::adapter::{DEFAULT_SOCKET_BUFFER, ServerCommand, ServerDriver, WaitError};
use kcpq_core::adapter::{ServerEvent, SessionInfo};
use kcpq_core::crypto::KeySet;
use kcpq_core::server::{Server as Core, ServerConfig, ServerStats};
use kcpq_os::{Clock, fresh_seed};

use crate::driver::IoThread;
use crate::events::{Events, events};
use crate::io::IoSocket;
use crate::link::{Deadline, Link, Std, deadline_after, link};

/// What handles send the I/O thread.
type Command = ServerCommand<Std>;

pub use error::{BindError, QueryError, ShutdownError};
pub use kcpq_core::adapter::{ServerPublishError, ServerRequestError, ServerSubscribeError};

/// Bound of commands from handles to the server's I/O thread.
const COMMAND_CAPACITY: usize = 64;
/// Bound of the server's event stream: 4096 events; beyond, new events are dropped and counted.
pub const DEFAULT_SERVER_EVENT_CAPACITY: usize = 4096;
/// Bound of a call (a query, or the owner's publish or subscribe) without its own timeout.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// The reason sent to clients in CLOSE at shutdown.
const SHUTDOWN_REASON: &str = "server shutting down";
/// Bound of `shutdown` and `Drop`: above the core's shutdown linger (1 s by default).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// A KCPQ broker running on its own thread. Dropping it shuts it down and waits for the thread.
///
/// Its owner takes part in the traffic too ([`Server::publish`], [`Server::publish_to`],
/// [`Server::subscribe`], [`Server::request`], [`Server::request_to`]); its subscriptions are
/// ordinary [`Subscription`](crate::Subscription)s. Each of these calls waits for the I/O thread
/// to apply it (not for the network): the core's refusal comes back from the call itself, and a
/// publish that returned `Ok` is already queued for every matching subscriber.
#[derive(Debug)]
pub struct Server {
    link: Link<Command>,
    events: Events<ServerEvent>,
    local_addr: SocketAddr,
    thread: IoThread,
    shutdown_linger: Duration,
}

impl Server {
    /// Binds a UDP socket at `addr` (the first address it resolves to; port 0: an ephemeral
    /// port) and starts the broker with `keys` (all accepted) and `config`.
    pub fn bind(
        addr: impl ToSocketAddrs,
        keys: KeySet,
        config: ServerConfig,
    ) -> Result<Server, BindError> {
        config.validate()?;
        let shutdown_linger = config.shutdown_linger;
        let none = || std::io::Error::new(std::io::ErrorKind::NotFound, "no address to bind");
        let listen = addr.to_socket_addrs()?.next().ok_or_else(none)?;
        let buffer = DEFAULT_SOCKET_BUFFER;
        let socket = kcpq_os::open_socket(listen, buffer, buffer, false)?;
        let local_addr = socket.local_addr()?;
        let (io, waker) = IoSocket::new(socket)?;
        let (link, commands) = link(COMMAND_CAPACITY, waker);
        let (sink, events) = events(DEFAULT_SERVER_EVENT_CAPACITY);
        let clock = Clock::start();
        let core = Core::new(config, &keys, fresh_seed()?, clock.now())?;
        let driver = ServerDriver::<Std>::new(core, sink, clock.wall_epoch());
        let thread = IoThread::spawn("kcpq-server", driver, commands, io, clock)?;
        Ok(Server {
            link,
            events,
            local_addr,
            thread,
            shutdown_linger,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many times the I/O thread has woken up so far: a diagnostic; an idle server wakes up
    /// only for its sessions' timers.
    pub fn io_wakeups(&self) -> u64 {
        self.thread.wakeups()
    }

    /// The stream of server events (sessions opened and closed, slow consumers, shutdown
    /// complete). Bounded: an application that does not read it loses events, counted in
    /// [`Events::dropped`]. Messages for the owner's subscriptions and replies to its requests go
    /// to their handles, not here; a slow consumer among the owner's own subscriptions is
    /// reported with an empty `name`.
    pub fn events(&self) -> Events<ServerEvent> {
        self.events.clone()
    }

    /// Every session now.
    pub fn sessions(&self) -> Result<Vec<SessionInfo>, QueryError> {
        self.sessions_timeout(QUERY_TIMEOUT)
    }

    /// Every session now, waiting at most `timeout` for the I/O thread.
    pub fn sessions_timeout(&self, timeout: Duration) -> Result<Vec<SessionInfo>, QueryError> {
        let make = |done| Command::Sessions { done };
        Ok(self.link.ask(make, timeout)?)
    }

    /// Server-wide counters.
    pub fn stats(&self) -> Result<ServerStats, QueryError> {
        self.stats_timeout(QUERY_TIMEOUT)
    }

    /// Server-wide counters, waiting at most `timeout` for the I/O thread.
    pub fn stats_timeout(&self, timeout: Duration) -> Result<ServerStats, QueryError> {
        let make = |done| Command::Stats { done };
        Ok(self.link.ask(make, timeout)?)
    }

    /// Sends CLOSE to every session, keeps running until each is acknowledged (at most the
    /// configuration's `shutdown_linger`, so lost CLOSE frames are retransmitted), then stops and
    /// joins the thread: the port is free when it returns.
    pub fn shutdown(self) {
        let _ = self.stop(STOP_TIMEOUT);
    }

    /// Shuts down, waiting at most `timeout` for the thread.
    pub fn shutdown_timeout(self, timeout: Duration) -> Result<(), ShutdownError> {
        self.stop(timeout)
    }

    /// Drains: refuses new sessions and publishes at once, keeps delivering what subscription
    /// queues hold for at most `timeout`, then shuts down (see [`Server::shutdown`]) and joins
    /// the thread. Returns once every session is closed.
    pub fn drain(self, timeout: Duration) -> Result<(), ShutdownError> {
        let wait = timeout + self.shutdown_linger + STOP_TIMEOUT;
        let make = |done| Command::Drain { timeout, done };
        self.stop_with(make, deadline_after(wait))
    }

    fn stop(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let make = |done| Command::shutdown(SHUTDOWN_REASON, Some(done));
        self.stop_with(make, deadline_after(timeout))
    }

    /// Sends a shutdown or drain, waits for it until `deadline`, and joins the thread.
    fn stop_with(
        &self,
        make: impl FnOnce(SyncSender<()>) -> Command,
        deadline: Deadline,
    ) -> Result<(), ShutdownError> {
        match self.thread.stop(&self.link, make, deadline) {
            Err(WaitError::TimedOut(_)) => Err(ShutdownError::TimedOut),
            _ => Ok(()),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop(STOP_TIMEOUT);
    }
}
