//! What a runtime adapter's client reports besides messages: one enum in every adapter.

use std::time::Duration;

use crate::CloseReason;
use crate::client::{self, ServerError, Sid};

/// What the client reports besides messages, from `Client::events`. The same in every
/// adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The session ended. Unless the client was closed (then [`Event::Closed`] follows), it
    /// reconnects by itself and restores every subscription.
    Disconnected(CloseReason),
    /// A new session is ready after a disconnect; every subscription is active again.
    /// Messages published while no session existed were not delivered to this client.
    Reconnected {
        /// The server's name.
        server_name: String,
        /// This client's name as the server knows it.
        client_name: String,
    },
    /// Messages for a subscription were dropped because a queue was full (once per burst).
    SlowConsumer {
        /// The subscription.
        sid: Sid,
        /// Messages dropped so far: by the subscription's queue in the adapter, or (when the
        /// core's queue in front of it overflowed) by the core for the whole client.
        dropped: u64,
    },
    /// A callback subscription's callback ran longer than the client's `slow_callback`
    /// threshold; the subscription's later messages waited meanwhile.
    SlowCallback {
        /// The subscription.
        sid: Sid,
        /// How long the call took.
        elapsed: Duration,
        /// Calls of this subscription that ran too long so far.
        count: u64,
    },
    /// The server withdrew or refused a subscription after it was made; its stream ends.
    SubscriptionFailed {
        /// The subscription.
        sid: Sid,
        /// The server's reason.
        error: ServerError,
    },
    /// A publish the handle accepted was refused by the core later (for example the server
    /// announced a smaller payload limit meanwhile).
    PublishFailed {
        /// The subject.
        subject: String,
        /// Why.
        error: client::PublishError,
    },
    /// The server reported an error not tied to a pending operation.
    ServerError(ServerError),
    /// The client is closed for good (after `close`, `drain`, or when reconnecting gave up);
    /// no event follows.
    Closed,
}
