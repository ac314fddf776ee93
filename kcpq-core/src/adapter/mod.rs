//! What every runtime adapter (kcpq-smol and kcpq-tokio through kcpq-async, kcpq-std) shares
//! around the core [`Client`] and [`Server`]: the defaults of its options, the errors of its
//! operations, the events it reports, the messages it hands out ([`Message`]), each
//! subscription's [`Inbox`], the waiters of requests, flushes and subscribes ([`Waiters`]), the
//! client driver's routing of core events ([`ClientBook`]), the server owner's bookkeeping
//! ([`OwnerBook`]), and the drivers built on them ([`ClientDriver`], [`ServerDriver`]), generic
//! over the adapter's channels ([`Channels`]) and driven by its loop ([`Driver`]); so that a
//! caller switching adapters keeps the same behaviour and matches the same errors and events.
//! What is left to an adapter is its runtime's glue: socket, timer, task or thread, channels.
//!
//! [`Client`]: crate::client::Client
//! [`Server`]: crate::server::Server

mod callback;
mod client_book;
mod client_driver;
mod client_shared;
mod cross_lanes;
mod driver;
mod dropped;
mod errors;
mod event;
mod inbox;
mod message;
mod owner;
mod server_driver;
mod server_errors;
mod server_event;
mod session;
mod subscribe;
mod wait;
mod waiters;
mod wakes;
mod workers;

use std::time::Duration;

pub use callback::{DEFAULT_SLOW_CALLBACK, SlowCallbacks};
pub use client_book::{ClientBook, ClientRouted, SubscriptionInbox};
pub use client_driver::{
    ClientCommand, ClientDriver, ConnectAnswer, HeadedRequest, Publish, RequestAnswer, Subscribe,
};
pub use client_shared::ClientShared;
pub use cross_lanes::{CROSS_INBOX_CAPACITY, CrossIn, CrossOut, Doorbell, cross_lanes};
pub use driver::{Channels, Driver, SubInbox, SubscriptionCommand, Taken, apply_commands};
pub use dropped::{CLOSE_SEND_WAIT, DriverThread};
pub use errors::{
    CloseError, ClosedError, ConnectError, DrainError, FlushError, PublishError, RequestError,
    SubscribeError, UnsubscribeError,
};
pub use event::Event;
pub use inbox::{Inbox, InboxState, Next, TaskWaker, Wake};
pub use message::Message;
pub use owner::{Deliver, OwnerBook, OwnerRouted};
pub use server_driver::{ServerCommand, ServerDriver, ServerRequestAnswer};
pub use server_errors::{ServerPublishError, ServerRequestError, ServerSubscribeError};
pub use server_event::ServerEvent;
pub use session::SessionInfo;
pub use subscribe::SubscriptionQueues;
pub use wait::WaitError;
pub use waiters::{Routed, Waiters};
pub use wakes::{MAX_DEFERRED_WAKES, WakeList};
pub use workers::{check_workers, total_stats, worker_cores};

/// Default time `connect` waits for the session (also the handshake's own timeout): 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Default bound of every call that waits for the driver or the server without a timeout of
/// its own (subscribe, flush, a publish waiting for room in the command queue): 5 s.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(5);

/// Default bound of a server's undelivered events in every adapter: 4096; beyond it new events
/// are dropped and counted.
pub const DEFAULT_SERVER_EVENT_CAPACITY: usize = 4096;

/// Default bound of commands waiting for the driver (task or thread): 512, two of the driver's
/// bursts, so callers fill one while it applies the other. A full queue makes callers wait
/// (back-pressure), within their operation timeout. Publishes leave this queue at once for the
/// core's outbox (bounded in bytes), so a deeper queue adds latency, not throughput; and its
/// slots are allocated when the client is made, which counts for processes with many clients.
pub const DEFAULT_COMMAND_CAPACITY: usize = 512;

/// Default size requested for a UDP socket's receive and send buffers: 4 MiB. Bursts of KCP
/// segments (a window of 1024 segments is 1.4 MB) must not overflow the kernel's queue: with
/// Linux's default 208 KB receive buffer, 14 549 of ~24 000 datagrams of a 4.5 MB transfer over
/// loopback were dropped. Linux caps the request at `net.core.rmem_max` / `wmem_max` unless
/// those are raised.
pub const DEFAULT_SOCKET_BUFFER: usize = 4 * 1024 * 1024;

/// Default bound of undelivered adapter events (connection changes, server errors,
/// slow-consumer notices; messages travel in their subscriptions): 256; beyond it new events
/// are dropped and counted or logged.
pub const DEFAULT_EVENT_CAPACITY: usize = 256;

/// The headers block of a publish or request with `headers` (name, value pairs): `None` when
/// there are none. Every adapter's `publish_with_headers` and `request_with_headers` encode
/// through this.
pub fn headers_block(
    headers: &[(&str, &str)],
) -> Result<Option<Vec<u8>>, crate::proto::HeaderError> {
    if headers.is_empty() {
        return Ok(None);
    }
    let mut block = Vec::new();
    crate::proto::encode_headers(headers.iter().copied(), &mut block)?;
    Ok(Some(block))
}

/// The headers block of a publish or request by the server's owner (see [`headers_block`]),
/// bad headers refused as the core server refuses them. Every adapter's owner
/// `publish_with_headers` and `request_with_headers` encode through this.
pub fn owner_headers(
    headers: &[(&str, &str)],
) -> Result<Option<Vec<u8>>, crate::server::ServerPublishError> {
    Ok(headers_block(headers)?)
}

/// The headers block of a client's publish or request, after the checks the core would make
/// (subject, reply subject, headers, size against the server's `max_payload`), so that the
/// caller gets the error rather than the event stream.
pub fn checked_headers(
    limits: &crate::subject::SubjectLimits,
    max_payload: usize,
    subject: &str,
    reply: Option<&str>,
    headers: &[(&str, &str)],
    payload_len: usize,
) -> Result<Option<Vec<u8>>, crate::client::PublishError> {
    let block = headers_block(headers)?;
    let checked = block.as_deref();
    crate::client::check_publish(limits, max_payload, subject, reply, checked, payload_len)?;
    Ok(block)
}

/// The local address a client binds by default to reach `server`: any interface of its
/// address family, an ephemeral port.
pub fn local_address_for(server: std::net::SocketAddr) -> std::net::SocketAddr {
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
    match server {
        SocketAddr::V4(_) => SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)),
        SocketAddr::V6(_) => SocketAddr::from((Ipv6Addr::UNSPECIFIED, 0)),
    }
}

/// How much longer than the core's own deadline a caller waits for the driver's answer to a
/// request or flush: 1 s. The core always ends them by their deadline; the margin only covers
/// a busy driver, so that a stuck driver is reported as a timeout rather than a hang.
pub const REPLY_MARGIN: Duration = Duration::from_secs(1);
