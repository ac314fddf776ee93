//! Client configuration.

use std::time::Duration;

use crate::crypto::InitiatorConfig;
use crate::kcp::KcpConfig;
use crate::subject::SubjectLimits;

/// Default bound of frames waiting to enter the stream (publishes and subscriptions made before
/// the session is ready or while KCP's send buffer is full): 8 MiB. When full, `publish` refuses
/// with [`PublishError::BufferFull`](super::PublishError::BufferFull).
pub const DEFAULT_MAX_OUTBOX_BYTES: usize = 8 * 1024 * 1024;
/// Default bound of received messages not yet taken with `poll_event`: 65 536 messages.
pub const DEFAULT_MAX_INBOUND_MESSAGES: usize = 65_536;
/// Default bound of received message bytes not yet taken: 64 MiB (NATS's default max pending).
pub const DEFAULT_MAX_INBOUND_BYTES: usize = 64 * 1024 * 1024;
/// Default bound of outstanding requests: 65 536.
pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 65_536;
/// Default prefix of the client's inbox subject (as in NATS).
pub const DEFAULT_INBOX_PREFIX: &str = "_INBOX";

/// Everything a [`Client`](super::Client) can be tuned with. Start from `ClientConfig::default()`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The client's name, unique per server (empty: the server assigns one).
    pub name: String,
    /// Do not deliver this client's own publishes to its own subscriptions.
    pub no_echo: bool,
    /// KCP settings (must match the server's MTU; windows may differ).
    pub kcp: KcpConfig,
    /// Handshake settings, including the connect timeout.
    pub handshake: InitiatorConfig,
    /// How often to PING the server (the server's INFO may ask for a shorter interval).
    pub ping_interval: Duration,
    /// The session is dead after this long without an authenticated datagram.
    pub dead_after: Duration,
    /// How long `close` waits for the CLOSE frame and unacknowledged data to be acknowledged.
    pub close_linger: Duration,
    /// Bound of the outbox, in bytes.
    pub max_outbox_bytes: usize,
    /// Bound of received messages waiting in the event queue.
    pub max_inbound_messages: usize,
    /// Bound of received message bytes waiting in the event queue.
    pub max_inbound_bytes: usize,
    /// Bound of outstanding requests.
    pub max_pending_requests: usize,
    /// Prefix of the inbox subject used for replies.
    pub inbox_prefix: String,
    /// Subject limits checked before anything is sent.
    pub subject_limits: SubjectLimits,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            name: String::new(),
            no_echo: false,
            kcp: KcpConfig::fast(),
            handshake: InitiatorConfig::default(),
            ping_interval: Duration::from_secs(15),
            dead_after: Duration::from_secs(120),
            close_linger: Duration::from_secs(2),
            max_outbox_bytes: DEFAULT_MAX_OUTBOX_BYTES,
            max_inbound_messages: DEFAULT_MAX_INBOUND_MESSAGES,
            max_inbound_bytes: DEFAULT_MAX_INBOUND_BYTES,
            max_pending_requests: DEFAULT_MAX_PENDING_REQUESTS,
            inbox_prefix: DEFAULT_INBOX_PREFIX.to_owned(),
            subject_limits: SubjectLimits::default(),
        }
    }
}
