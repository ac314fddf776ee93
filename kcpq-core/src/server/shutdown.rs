//! Stopping the server: drain (no new sessions or publishes, deliver what is queued) and
//! shutdown (CLOSE to every session, then drop them once it is acknowledged).

use std::time::Duration;

use crate::Instant;
use crate::proto::{Close, Frame};
use crate::session::CloseReason;

use super::table::SlotId;
use super::{Server, ServerEvent, Shutdown};

impl Server {
    /// Shuts down: sends CLOSE with `reason` to every session (clients reconnect elsewhere or
    /// later at once), refuses new sessions and publishes, and drops each session once its
    /// CLOSE is acknowledged or `shutdown_linger` has passed. Keep driving the server until
    /// [`ServerEvent::ShutdownComplete`] (or [`Server::is_shut_down`]).
    pub fn shutdown(&mut self, now: Instant, reason: &str) {
        if matches!(
            self.shutdown,
            Some(Shutdown::Closing { .. } | Shutdown::Done)
        ) {
            return;
        }
        let slots: Vec<SlotId> = self.table.iter().map(|(slot, _)| slot).collect();
        for slot in slots {
            if let Some(entry) = self.table.get_mut(slot) {
                let _ = entry.session.write_frame(&Frame::Close(Close { reason }));
            }
            self.table.mark_dirty(slot);
        }
        self.shutdown = Some(Shutdown::Closing {
            deadline: now + self.config.shutdown_linger,
        });
        self.advance_shutdown(now);
    }

    /// Drains: refuses new sessions and publishes at once, keeps delivering what subscription
    /// queues and streams hold, then shuts down (see [`Server::shutdown`]) when everything is
    /// acknowledged or after `timeout`.
    pub fn drain(&mut self, now: Instant, timeout: Duration) {
        if self.shutdown.is_none() {
            self.shutdown = Some(Shutdown::Draining {
                deadline: now + timeout,
            });
            // After everything this worker routed to the others: they know it routes no more.
            self.announce_drained();
        }
        self.advance_shutdown(now);
    }

    /// Whether a shutdown has completed: no session is left.
    pub fn is_shut_down(&self) -> bool {
        self.shutdown == Some(Shutdown::Done)
    }

    /// Whether the server is draining or shutting down (new sessions and publishes refused).
    pub fn is_stopping(&self) -> bool {
        self.shutdown.is_some()
    }

    pub(super) fn shutdown_deadline(&self) -> Option<Instant> {
        match self.shutdown? {
            Shutdown::Draining { deadline } | Shutdown::Closing { deadline } => Some(deadline),
            Shutdown::Done => None,
        }
    }

    /// Moves a drain or shutdown on: called after every input while one is in progress.
    pub(super) fn advance_shutdown(&mut self, now: Instant) {
        match self.shutdown {
            Some(Shutdown::Draining { deadline }) => {
                // What other workers routed here before they stopped taking publishes is
                // delivered too: each one's marker follows its messages.
                let idle = self.peers_drained()
                    && self
                        .table
                        .iter()
                        .all(|(_, e)| e.ready.is_empty() && e.session.is_flushed());
                if idle || now >= deadline {
                    self.shutdown(now, "server draining");
                }
            }
            Some(Shutdown::Closing { deadline }) => {
                let done: Vec<SlotId> = self
                    .table
                    .iter()
                    .filter(|(_, e)| now >= deadline || e.session.is_flushed())
                    .map(|(slot, _)| slot)
                    .collect();
                for slot in done {
                    self.close_slot(now, slot, CloseReason::Local, false);
                }
                if self.table.len() == 0 {
                    self.shutdown = Some(Shutdown::Done);
                    self.push_event(ServerEvent::ShutdownComplete);
                }
            }
            Some(Shutdown::Done) | None => {}
        }
    }
}
