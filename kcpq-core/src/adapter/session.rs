//! One connected client as an embedded server's owner sees it, the same in every adapter.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use crate::server::{self, TransportInfo};

/// One connected client, from the server handle's `sessions()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// Its name (empty until CONNECT).
    pub name: String,
    /// Its current address.
    pub addr: SocketAddr,
    /// When the session was established, by the wall clock.
    pub connected_since: SystemTime,
    /// When it was last heard from, by the wall clock.
    pub last_heard: SystemTime,
    /// KCP's smoothed round-trip time.
    pub rtt: Duration,
    /// Subscriptions it holds.
    pub subscriptions: usize,
    /// Its KCP stream's state and counters, and the messages queued for it.
    pub transport: TransportInfo,
    /// The index of the server worker that owns it (0 with one worker).
    pub worker: usize,
}

impl SessionInfo {
    /// The core's view of a session, its instants placed on the wall clock: `epoch` is the
    /// wall-clock time of the core's [`Instant::ZERO`](crate::Instant::ZERO) (when the adapter
    /// started the server's clock).
    pub fn new(session: server::SessionInfo, epoch: SystemTime) -> SessionInfo {
        let wall = |at: crate::Instant| epoch + Duration::from_micros(at.as_micros());
        SessionInfo {
            name: session.name,
            addr: session.addr,
            connected_since: wall(session.connected_since),
            last_heard: wall(session.last_heard),
            rtt: session.rtt,
            subscriptions: session.subscriptions,
            transport: session.transport,
            worker: session.worker,
        }
    }
}
