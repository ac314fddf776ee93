//! The server's I/O thread: answers handles' queries and shuts the core down.

use std::net::SocketAddr;

use kcpq_core::Instant;
use kcpq_core::server::ServerStats;
use kcpq_core::server::{Server as Core, ServerEvent, SessionInfo, Transmit};

use crate::driver::Driven;
use crate::events::EventSink;
use crate::link::{Commands, Reply, Taken, answer};

/// What server handles ask of the I/O thread.
#[derive(Debug)]
pub(crate) enum Command {
    /// `Server::sessions`.
    Sessions(Reply<Vec<SessionInfo>>),
    /// `Server::stats`.
    Stats(Reply<ServerStats>),
    /// `Server::shutdown`: CLOSE to every session, stop once acknowledged (or the core's
    /// `shutdown_linger` has passed).
    Shutdown { reply: Option<Reply<()>> },
}

/// The reason sent to clients in CLOSE at shutdown.
const SHUTDOWN_REASON: &str = "server shutting down";

/// The core server and the shutdown state.
pub(crate) struct ServerDriver {
    core: Core,
    commands: Commands<Command>,
    events: EventSink<ServerEvent>,
    waiters: Vec<Reply<()>>,
    finished: bool,
}

impl ServerDriver {
    pub(crate) fn new(
        core: Core,
        commands: Commands<Command>,
        events: EventSink<ServerEvent>,
    ) -> Self {
        ServerDriver {
            core,
            commands,
            events,
            waiters: Vec::new(),
            finished: false,
        }
    }

    fn shut_down(&mut self, now: Instant) {
        if !self.core.is_stopping() {
            self.core.shutdown(now, SHUTDOWN_REASON);
        }
    }
}

impl Driven for ServerDriver {
    fn commands(&mut self, now: Instant) {
        self.commands.rearm();
        let mut taken = false;
        loop {
            match self.commands.take() {
                Taken::Command(command) => {
                    taken = true;
                    match command {
                        Command::Sessions(reply) => answer(reply, self.core.sessions()),
                        Command::Stats(reply) => answer(reply, self.core.stats()),
                        Command::Shutdown { reply } => {
                            self.waiters.extend(reply);
                            self.shut_down(now);
                        }
                    }
                }
                Taken::Empty => break,
                Taken::Disconnected => {
                    self.shut_down(now);
                    break;
                }
            }
        }
        if taken {
            self.commands.made_room();
        }
    }

    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        self.core.handle_datagram(now, from, datagram);
    }

    fn handle_timeout(&mut self, now: Instant) {
        self.core.handle_timeout(now);
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.core.poll_transmit(now, buf)
    }

    fn events(&mut self, _now: Instant) -> bool {
        while let Some(event) = self.core.poll_event() {
            self.events.push(event);
        }
        if self.core.is_shut_down() && !self.finished {
            self.finished = true;
            for reply in self.waiters.drain(..) {
                answer(reply, ());
            }
        }
        false
    }

    fn poll_timeout(&self) -> Option<Instant> {
        self.core.poll_timeout()
    }

    fn finished(&self) -> bool {
        self.finished
    }
}
