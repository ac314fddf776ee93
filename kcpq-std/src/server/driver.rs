//! The server's I/O thread: answers handles' queries and shuts the core down.

use std::net::SocketAddr;
use std::time::Duration;

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
    /// `Server::shutdown`: CLOSE to every session, linger, stop.
    Shutdown {
        linger: Duration,
        reply: Option<Reply<()>>,
    },
}

/// The reason sent to clients in CLOSE at shutdown.
const SHUTDOWN_REASON: &str = "server shutting down";

/// The core server and the shutdown state.
pub(crate) struct ServerDriver {
    core: Core,
    commands: Commands<Command>,
    events: EventSink<ServerEvent>,
    /// Set at shutdown: keep driving (retransmitting CLOSE) until then.
    linger_until: Option<Instant>,
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
            linger_until: None,
            waiters: Vec::new(),
            finished: false,
        }
    }

    fn shut_down(&mut self, now: Instant, linger: Duration) {
        if self.linger_until.is_none() {
            // With no session there is no CLOSE to retransmit: stop at once.
            let linger = if self.core.session_count() == 0 {
                Duration::ZERO
            } else {
                linger
            };
            self.core.close_all(SHUTDOWN_REASON);
            self.linger_until = Some(now + linger);
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
                        Command::Shutdown { linger, reply } => {
                            self.waiters.extend(reply);
                            self.shut_down(now, linger);
                        }
                    }
                }
                Taken::Empty => break,
                Taken::Disconnected => {
                    self.shut_down(now, super::DEFAULT_SHUTDOWN_LINGER);
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
        if self.linger_until.is_some_and(|t| now >= t) {
            self.finished = true;
            for reply in self.waiters.drain(..) {
                answer(reply, ());
            }
        }
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.core.poll_transmit(now, buf)
    }

    fn events(&mut self, _now: Instant) -> bool {
        while let Some(event) = self.core.poll_event() {
            self.events.push(event);
        }
        false
    }

    fn poll_timeout(&self) -> Option<Instant> {
        [self.core.poll_timeout(), self.linger_until]
            .into_iter()
            .flatten()
            .min()
    }

    fn finished(&self) -> bool {
        self.finished
    }
}
