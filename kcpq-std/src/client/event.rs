//! What a client reports to the application.

use kcpq_core::CloseReason;
use kcpq_core::client::{ClientEvent, ServerError, Sid};

/// Something the application may want to know about its client, from
/// [`Client::events`](super::Client::events).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The session is ready.
    Connected {
        /// The server's name.
        server_name: String,
        /// This client's name as the server knows it.
        client_name: String,
    },
    /// The session ended. Unless the client was closed (then [`Event::Closed`] follows), it
    /// reconnects by itself and restores its subscriptions.
    Disconnected(CloseReason),
    /// A new session is ready after a disconnect; every subscription has been restored.
    /// Messages published while no session existed were not delivered (at most once).
    Reconnected {
        /// The server's name.
        server_name: String,
        /// This client's name as the server knows it.
        client_name: String,
    },
    /// A subscription's queue was full and messages were dropped (once per burst).
    SlowConsumer {
        /// The subscription.
        sid: Sid,
    },
    /// The server withdrew or refused a subscription; its queue is closed.
    SubscriptionFailed {
        /// The subscription.
        sid: Sid,
        /// The server's reason.
        error: ServerError,
    },
    /// A publish accepted by the handle was refused by the core later (for example the server
    /// announced a smaller payload limit meanwhile).
    PublishFailed {
        /// The subject.
        subject: String,
        /// Why.
        error: kcpq_core::client::PublishError,
    },
    /// The server reported an error not tied to a pending operation.
    ServerError(ServerError),
    /// An event of the core this adapter passes on unchanged.
    Core(ClientEvent),
    /// The client has ended (after `close`, a failed first connect, or when reconnecting gave
    /// up); no more events follow.
    Closed,
}
