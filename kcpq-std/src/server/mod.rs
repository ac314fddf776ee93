//! The blocking server: a handle over an I/O thread that drives a `kcpq_core` server.

mod driver;

use std::net::{SocketAddr, ToSocketAddrs, UdpSocket};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use kcpq_core::crypto::KeySet;
use kcpq_core::server::{
    Server as Core, ServerConfig, ServerConfigError, ServerEvent, ServerStats, SessionInfo,
};

use crate::clock::{Clock, RandomnessError, os_seed};
use crate::events::{Events, events};
use crate::io::IoSocket;
use crate::link::{Link, LinkError, await_reply, deadline_after, link, reply};

use driver::{Command, ServerDriver};

/// Bound of commands from handles to the server's I/O thread.
const COMMAND_CAPACITY: usize = 64;
/// Bound of the server's event stream: 4096 events; beyond, new events are dropped and counted.
pub const DEFAULT_SERVER_EVENT_CAPACITY: usize = 4096;
/// Bound of a query (`sessions`, `stats`) without its own timeout.
const QUERY_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound of `shutdown` and `Drop`: above the core's shutdown linger (1 s by default).
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// Why `Server::bind` failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BindError {
    /// The address did not resolve, could not be bound, or the I/O thread could not start.
    #[error("cannot bind the server socket or start its thread: {0}")]
    Io(#[from] std::io::Error),
    /// The configuration cannot work.
    #[error(transparent)]
    Config(#[from] ServerConfigError),
    /// The OS random number generator failed.
    #[error(transparent)]
    Randomness(#[from] RandomnessError),
}

/// Why a query to the server (`sessions`, `stats`) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The I/O thread did not answer within the timeout.
    #[error("the server did not answer within the timeout")]
    TimedOut,
    /// The server has stopped.
    #[error("the server has stopped")]
    Stopped,
}

/// Why `shutdown_timeout` returned before the server stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ShutdownError {
    /// The I/O thread did not stop within the timeout; it goes on stopping in the background.
    #[error("the server did not stop within the timeout")]
    TimedOut,
}

impl From<LinkError> for QueryError {
    fn from(e: LinkError) -> Self {
        match e {
            LinkError::Closed => QueryError::Stopped,
            LinkError::TimedOut => QueryError::TimedOut,
        }
    }
}

/// A KCPQ broker running on its own thread. Dropping it shuts it down and waits for the thread.
#[derive(Debug)]
pub struct Server {
    link: Link<Command>,
    events: Events<ServerEvent>,
    local_addr: SocketAddr,
    thread: Mutex<Option<JoinHandle<()>>>,
    turns: Arc<AtomicU64>,
}

impl Server {
    /// Binds a UDP socket at `addr` (port 0: an ephemeral port) and starts the broker with
    /// `keys` (all accepted) and `config`.
    pub fn bind(
        addr: impl ToSocketAddrs,
        keys: &KeySet,
        config: ServerConfig,
    ) -> Result<Server, BindError> {
        config.validate()?;
        let socket = UdpSocket::bind(addr)?;
        let local_addr = socket.local_addr()?;
        let (io, waker) = IoSocket::new(socket)?;
        let (link, commands) = link(COMMAND_CAPACITY, waker);
        let (sink, events) = events(DEFAULT_SERVER_EVENT_CAPACITY);
        let clock = Clock::start();
        let core = Core::new(config, keys, os_seed()?, clock.now())?;
        let mut driver = ServerDriver::new(core, commands, sink);
        let turns = Arc::new(AtomicU64::new(0));
        let io_turns = Arc::clone(&turns);
        let thread = std::thread::Builder::new()
            .name("kcpq-server".to_owned())
            .spawn(move || crate::driver::run(&mut driver, &io, &clock, &io_turns))?;
        Ok(Server {
            link,
            events,
            local_addr,
            thread: Mutex::new(Some(thread)),
            turns,
        })
    }

    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// How many times the I/O thread has woken up so far: a diagnostic; an idle server wakes up
    /// only for its sessions' timers.
    pub fn io_wakeups(&self) -> u64 {
        self.turns.load(Ordering::Relaxed)
    }

    /// The stream of server events (sessions opened and closed, slow consumers). Bounded: an
    /// application that does not read it loses events, counted in [`Events::dropped`].
    pub fn events(&self) -> Events<ServerEvent> {
        self.events.clone()
    }

    /// Every session now.
    pub fn sessions(&self) -> Result<Vec<SessionInfo>, QueryError> {
        self.sessions_timeout(QUERY_TIMEOUT)
    }

    /// Every session now, waiting at most `timeout` for the I/O thread.
    pub fn sessions_timeout(&self, timeout: Duration) -> Result<Vec<SessionInfo>, QueryError> {
        let deadline = deadline_after(timeout);
        let (tx, rx) = reply();
        self.link.send(Command::Sessions(tx), deadline)?;
        Ok(await_reply(&rx, deadline)?)
    }

    /// Server-wide counters.
    pub fn stats(&self) -> Result<ServerStats, QueryError> {
        self.stats_timeout(QUERY_TIMEOUT)
    }

    /// Server-wide counters, waiting at most `timeout` for the I/O thread.
    pub fn stats_timeout(&self, timeout: Duration) -> Result<ServerStats, QueryError> {
        let deadline = deadline_after(timeout);
        let (tx, rx) = reply();
        self.link.send(Command::Stats(tx), deadline)?;
        Ok(await_reply(&rx, deadline)?)
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

    fn stop(&self, timeout: Duration) -> Result<(), ShutdownError> {
        let deadline = deadline_after(timeout);
        let (tx, rx) = reply();
        let command = Command::Shutdown { reply: Some(tx) };
        match self.link.send(command, deadline) {
            Ok(()) => match await_reply(&rx, deadline) {
                Ok(()) | Err(LinkError::Closed) => {}
                Err(LinkError::TimedOut) => return Err(ShutdownError::TimedOut),
            },
            Err(LinkError::Closed) => {}
            Err(LinkError::TimedOut) => return Err(ShutdownError::TimedOut),
        }
        let thread = self
            .thread
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(thread) = thread {
            let _ = thread.join();
        }
        Ok(())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop(STOP_TIMEOUT);
    }
}
