//! What a client reports: events, received messages, and the errors of each operation.

use crate::crypto::HandshakeError;
use crate::message::{Message, RequestFailure, RequestId, Sid};
use crate::proto::{ErrorCode, HeaderError};
use crate::queue::{OverflowPolicy, QueueLimits};
use crate::session::CloseReason;
use crate::subject::SubjectError;

/// Identifies one flush made with [`Client::flush`](super::Client::flush).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FlushId(pub u32);

/// An error the server reported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("server error {code:?}: {message}")]
pub struct ServerError {
    /// The kind.
    pub code: ErrorCode,
    /// The server's explanation.
    pub message: String,
}

/// Something the owner of a [`Client`](super::Client) must know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientEvent {
    /// The session is ready: handshake and CONNECT done.
    Connected {
        /// The server's name.
        server_name: String,
        /// This client's name as the server knows it.
        client_name: String,
    },
    /// The first connect failed (wrong key, no server, timeout); unless
    /// `retry_initial_connect` is set, [`ClientEvent::Closed`] follows.
    ConnectFailed(HandshakeError),
    /// The session ended. Unless the client was closed, it reconnects by itself; outstanding
    /// requests and flushes have failed, publishes made meanwhile wait in the outbox.
    Disconnected(CloseReason),
    /// A new session is ready after a disconnect; every subscription has been sent again and
    /// the buffered publishes follow. Messages published while no session existed were not
    /// delivered to this client (delivery is at most once across a reconnect).
    Reconnected {
        /// The server's name.
        server_name: String,
        /// This client's name as the server knows it.
        client_name: String,
    },
    /// The client is closed for good (after `close`, `drain`, a failed first connect, or when
    /// reconnecting gave up). No event follows.
    Closed,
    /// The server confirmed a subscription.
    Subscribed(Sid),
    /// The server refused a subscription; it no longer exists.
    SubscribeFailed(Sid, ServerError),
    /// A subscription ended by itself: it has received the `n` messages given to
    /// `unsubscribe(sid, Some(n))`, counted since it started. It follows the subscription's last
    /// message.
    Unsubscribed(Sid),
    /// A message for a subscription.
    Message(Message),
    /// The reply to a request.
    Reply(RequestId, Message),
    /// A request ended without a reply.
    RequestFailed(RequestId, RequestFailure),
    /// A flush completed: the server has processed everything sent before it.
    Flushed(FlushId),
    /// A flush did not complete within its timeout or before the session ended.
    FlushFailed(FlushId),
    /// Messages were dropped because the inbound queue was full (reported once per burst).
    SlowConsumer {
        /// The subscription that lost messages.
        sid: Sid,
    },
    /// The server reported an error not tied to a pending operation.
    ServerError(ServerError),
}

/// How to subscribe: queue group, and the bound and overflow policy of the subscription's
/// queue (the same policy is asked of the server for its queue in front of this client).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscribeOptions {
    /// The queue group, if any: each message goes to one member of the group.
    pub queue_group: Option<String>,
    /// The bound of the subscription's queue (`None`: the client's `subscription_limits`).
    pub limits: Option<QueueLimits>,
    /// What is dropped when the queue is full (`None`: the client's `subscription_policy`).
    pub policy: Option<OverflowPolicy>,
}

impl SubscribeOptions {
    /// Options with a queue group.
    pub fn queue_group(group: impl Into<String>) -> Self {
        SubscribeOptions {
            queue_group: Some(group.into()),
            ..SubscribeOptions::default()
        }
    }

    /// Sets the queue bound.
    pub fn with_limits(mut self, limits: QueueLimits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Sets the overflow policy.
    pub fn with_policy(mut self, policy: OverflowPolicy) -> Self {
        self.policy = Some(policy);
        self
    }
}

/// Why `subscribe` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The filter or queue group name is invalid.
    #[error(transparent)]
    InvalidSubject(#[from] SubjectError),
    /// Every subscription id has been used (2^32 - 2 subscriptions made by this client).
    #[error("this client has used every subscription id; make a new client")]
    TooManySubscriptions,
    /// The client is closed or draining.
    #[error("the client is closed or draining")]
    Closed,
}

/// Why `drain` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DrainError {
    /// A drain is already in progress.
    #[error("the client is already draining")]
    AlreadyDraining,
    /// The client is closed or closing.
    #[error("the client is closed")]
    Closed,
}

/// Why `unsubscribe` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsubscribeError {
    /// No subscription has this id.
    #[error("no subscription with id {0}")]
    UnknownSubscription(Sid),
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `publish` or `request` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The subject (or reply subject) is invalid.
    #[error(transparent)]
    InvalidSubject(#[from] SubjectError),
    /// A header name or value is invalid.
    #[error(transparent)]
    InvalidHeaders(#[from] HeaderError),
    /// Payload and headers exceed the server's limit.
    #[error("payload of {size} bytes exceeds the server's limit of {max} bytes")]
    PayloadTooLarge {
        /// Payload plus headers.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// The outbox is full: the client is disconnected (publishes wait for the reconnect) or the
    /// network is slower than the publisher.
    #[error(
        "the client's outbox is full ({max} bytes): it is reconnecting or the network is slower than the publisher; slow down, flush, or raise max_outbox_bytes"
    )]
    BufferFull {
        /// The bound.
        max: usize,
    },
    /// Too many requests are outstanding.
    #[error("{max} requests are already outstanding")]
    TooManyRequests {
        /// The bound.
        max: usize,
    },
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}

/// Why `flush` refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FlushError {
    /// The outbox is full.
    #[error("the client's outbox is full; wait for the connection or raise max_outbox_bytes")]
    BufferFull,
    /// The client is closed.
    #[error("the client is closed")]
    Closed,
}
