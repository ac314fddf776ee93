//! Client configuration.

use std::time::Duration;

use crate::crypto::InitiatorConfig;
use crate::fec::FecConfig;
use crate::kcp::KcpConfig;
use crate::queue::{OverflowPolicy, QueueLimits};
use crate::subject::SubjectLimits;

/// Default bound of publishes waiting to enter the stream (made while disconnected, before the
/// first connect, or while KCP's send buffer is full): 8 MiB. When full, `publish` refuses with
/// [`PublishError::BufferFull`](super::PublishError::BufferFull).
pub const DEFAULT_MAX_OUTBOX_BYTES: usize = 8 * 1024 * 1024;
/// Default bound of outstanding requests: 65 536.
pub const DEFAULT_MAX_PENDING_REQUESTS: usize = 65_536;
/// Default prefix of the client's inbox subject (as in NATS).
pub const DEFAULT_INBOX_PREFIX: &str = "_INBOX";

/// How the client reconnects after its session dies.
///
/// Attempt `n` (from 0) waits a random time in `[d/2, d]` with `d = min(max_backoff,
/// initial_backoff * 2^n)` (equal jitter, drawn from the client's seed), so a restarted server is
/// not hit by every client at once. The count restarts after every successful connect.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReconnectConfig {
    /// Whether to reconnect at all (default true). When false, a lost session is terminal.
    pub enabled: bool,
    /// Upper end of the first wait. Default 50 ms: a server restart is bridged at once.
    pub initial_backoff: Duration,
    /// Largest wait. Default 2 s (as NATS's reconnect wait).
    pub max_backoff: Duration,
    /// Give up after this many failed attempts in a row (`None`, the default: never).
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectConfig {
    fn default() -> Self {
        ReconnectConfig {
            enabled: true,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(2),
            max_attempts: None,
        }
    }
}

/// Everything a [`Client`](super::Client) can be tuned with. Start from `ClientConfig::default()`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The client's name, unique per server (empty: the server assigns one, kept across
    /// reconnects).
    pub name: String,
    /// Do not deliver this client's own publishes to its own subscriptions.
    pub no_echo: bool,
    /// KCP settings (must match the server's MTU; windows may differ).
    pub kcp: KcpConfig,
    /// Handshake settings, including the connect timeout of each attempt.
    pub handshake: InitiatorConfig,
    /// Reconnect policy.
    pub reconnect: ReconnectConfig,
    /// Keep retrying when the very first connect fails (default false: the first failure is
    /// reported as [`ClientEvent::ConnectFailed`](super::ClientEvent::ConnectFailed) and ends
    /// the client, so a wrong key or address is reported at once).
    pub retry_initial_connect: bool,
    /// How often to PING the server (the server's INFO may ask for a shorter interval).
    pub ping_interval: Duration,
    /// The session is dead after this long without an authenticated datagram.
    pub dead_after: Duration,
    /// How long `close` waits for the CLOSE frame and unacknowledged data to be acknowledged.
    pub close_linger: Duration,
    /// Bound of the outbox (publishes waiting for the stream), in bytes.
    pub max_outbox_bytes: usize,
    /// Default bound of each subscription's queue of received messages not yet taken with
    /// `poll_event` (override per subscription with
    /// [`SubscribeOptions`](super::SubscribeOptions)).
    pub subscription_limits: QueueLimits,
    /// Default policy of each subscription's queue.
    pub subscription_policy: OverflowPolicy,
    /// Bound of outstanding requests.
    pub max_pending_requests: usize,
    /// Prefix of the inbox subject used for replies.
    pub inbox_prefix: String,
    /// Subject limits checked before anything is sent.
    pub subject_limits: SubjectLimits,
    /// Forward error correction (default off): with `auto` or a ratio the client offers it at
    /// connect, and sessions use it when the server wants it too. Check it with
    /// [`FecConfig::validate`]; an invalid setting is treated as off.
    pub fec: FecConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            name: String::new(),
            no_echo: false,
            kcp: KcpConfig::fast(),
            handshake: InitiatorConfig::default(),
            reconnect: ReconnectConfig::default(),
            retry_initial_connect: false,
            ping_interval: Duration::from_secs(15),
            dead_after: Duration::from_secs(120),
            close_linger: Duration::from_secs(2),
            max_outbox_bytes: DEFAULT_MAX_OUTBOX_BYTES,
            subscription_limits: QueueLimits::default(),
            subscription_policy: OverflowPolicy::DropNewest,
            max_pending_requests: DEFAULT_MAX_PENDING_REQUESTS,
            inbox_prefix: DEFAULT_INBOX_PREFIX.to_owned(),
            subject_limits: SubjectLimits::default(),
            fec: FecConfig::default(),
        }
    }
}
