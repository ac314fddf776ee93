//! What an embedded server reports to its owner, the same in every adapter.

use std::net::SocketAddr;

use crate::CloseReason;
use crate::message::Sid;
use crate::server;

/// What the server reports, from the server handle's `events()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client completed CONNECT.
    ClientConnected {
        /// Its name.
        name: String,
        /// Its address.
        addr: SocketAddr,
    },
    /// A client's session ended (closed by either side, or a protocol violation).
    ClientDisconnected {
        /// Its name.
        name: String,
        /// Its last address.
        addr: SocketAddr,
        /// Why.
        reason: CloseReason,
    },
    /// A client went silent (no heartbeat within `dead_after`, or KCP's dead-link limit).
    HeartbeatTimeout {
        /// Its name.
        name: String,
        /// Its last address.
        addr: SocketAddr,
    },
    /// Messages to a subscription were dropped (once per burst).
    SlowConsumer {
        /// The client's name; empty for a subscription of the server's owner.
        name: String,
        /// Its subscription id.
        sid: Sid,
    },
    /// Every session is closed after a shutdown or a drain; the server stops.
    ShutdownComplete,
}

impl ServerEvent {
    /// The owner's view of a core event; `None` for the events the adapter handles itself
    /// (messages and replies of the owner's subscriptions and requests).
    pub fn from_core(event: server::ServerEvent) -> Option<ServerEvent> {
        Some(match event {
            server::ServerEvent::SessionOpened { name, addr } => {
                ServerEvent::ClientConnected { name, addr }
            }
            server::ServerEvent::SessionClosed {
                name,
                addr,
                reason: CloseReason::Silence | CloseReason::DeadLink,
            } => ServerEvent::HeartbeatTimeout { name, addr },
            server::ServerEvent::SessionClosed { name, addr, reason } => {
                ServerEvent::ClientDisconnected { name, addr, reason }
            }
            server::ServerEvent::SlowConsumer { name, sid } => {
                ServerEvent::SlowConsumer { name, sid }
            }
            server::ServerEvent::ShutdownComplete => ServerEvent::ShutdownComplete,
            _ => return None,
        })
    }
}
