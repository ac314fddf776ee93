//! Server configuration: limits, timers and the transport settings.

use std::time::Duration;

use crate::crypto::ResponderConfig;
use crate::fec::FecConfig;
use crate::kcp::KcpConfig;
use crate::queue::QueueLimits;
use crate::subject::IndexConfig;

pub use crate::proto::DEFAULT_MAX_PAYLOAD;
/// Default maximum number of sessions: 25 000, above the 20 000 the product promises and below
/// the 28 000 ephemeral ports one client host can use towards one server port.
pub const DEFAULT_MAX_SESSIONS: usize = 25_000;
/// Default maximum subscriptions per session: 10 000; a client needs few, a bridge many.
pub const DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION: usize = 10_000;
/// Default interval at which clients are told to PING: 15 s, as the original.
pub const DEFAULT_PING_INTERVAL: Duration = Duration::from_secs(15);
/// Default silence after which a session is dead: 120 s, as the original.
pub const DEFAULT_DEAD_AFTER: Duration = Duration::from_secs(120);
/// The least slack the server allows beyond two ping intervals before it declares a silent
/// session dead: 5 s (a lost PING is retransmitted well within it).
pub const MIN_SILENCE_MARGIN: Duration = Duration::from_secs(5);
/// Default time a new session may take to send CONNECT: 10 s.
pub const DEFAULT_CONNECT_DEADLINE: Duration = Duration::from_secs(10);
/// Default bound of the server's event queue: 65 536 events; when full the oldest is dropped and
/// counted (an embedding application that never polls events must not grow memory).
pub const DEFAULT_MAX_EVENTS: usize = 65_536;
/// Default bound of handshake replies and resets waiting for `poll_transmit`: 4096 datagrams;
/// when full, new replies are dropped and counted (the peer retransmits).
pub const DEFAULT_MAX_PENDING_REPLIES: usize = 4096;

/// Default bound of one subscription's queue on the server in bytes: 64 MiB (raised to hold at
/// least two messages of `max_payload`), NATS's default pending limit per connection. Messages
/// wait there only while the client's stream is above its low watermark, that is while the
/// client reads slower than it is sent to; the bound decides how long a burst (four publishers
/// into one subscriber, say) is absorbed before messages are dropped as a slow consumer.
pub const DEFAULT_SUBSCRIPTION_QUEUE_BYTES: usize = 64 * 1024 * 1024;
/// Default bound of one subscription's queue on the server in messages: 1 048 576, so that
/// small messages meet the byte bound first (a queued 16-byte message weighs about 40 bytes
/// encoded and costs about 100 bytes of memory with its allocation).
pub const DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES: usize = 1 << 20;
/// Default server-wide bound of bytes waiting in subscription queues: 1 GiB. Beyond it new
/// messages for slow subscriptions are dropped and counted (`drops.server_pending_full`).
pub const DEFAULT_MAX_PENDING_BYTES: usize = 1024 * 1024 * 1024;
/// Default time a shutdown waits for the CLOSE frames to be acknowledged: 1 s.
pub const DEFAULT_SHUTDOWN_LINGER: Duration = Duration::from_secs(1);
/// Default bound of requests the server's owner may have outstanding: 65 536.
pub const DEFAULT_MAX_SERVER_REQUESTS: usize = 65_536;
/// Default server-wide bound of the bytes all FEC decoders hold: 64 MiB, a thousand busy
/// sessions at the per-session bound.
pub const DEFAULT_FEC_MAX_DECODER_BYTES: usize = 64 * 1024 * 1024;
/// Default bound of the bytes of messages in flight from one worker to another.
pub const DEFAULT_MAX_CROSS_BYTES: usize = 32 * 1024 * 1024;

/// Everything a [`Server`](super::Server) can be tuned with. Start from `ServerConfig::default()`.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The server's name, sent to clients in INFO.
    pub server_name: String,
    /// Largest payload (headers included) accepted in a PUB.
    pub max_payload: usize,
    /// Most sessions at once; a client beyond it gets `ERR TooManySessions` and is closed.
    pub max_sessions: usize,
    /// Most subscriptions one session may hold; beyond it SUB gets `ERR TooManySubscriptions`.
    pub max_subscriptions_per_session: usize,
    /// Ping interval announced to clients: they PING at least this often.
    pub ping_interval: Duration,
    /// The longest a session may stay silent (no authenticated datagram) before it is dead.
    /// A connected client is declared dead sooner, after
    /// [`silence_limit`](ServerConfig::silence_limit) of its ping interval.
    pub dead_after: Duration,
    /// What a CONNECT with a client name another instance holds does (default: take it over).
    pub duplicate_names: DuplicateNames,
    /// When the session table is full, a new client that proved the key may evict the session
    /// silent the longest, if that one has missed a PING (silent for more than one and a half
    /// of its ping intervals; default true). Otherwise, and when no session qualifies, it is refused.
    pub evict_silent_when_full: bool,
    /// A session that has not sent CONNECT this long after its handshake is closed.
    pub connect_deadline: Duration,
    /// KCP settings of every session (the MTU must leave room for the 33 bytes of protection).
    /// `kcp.send_buffer_limit` is the most bytes pending for one session (the max pending bytes
    /// per session): a message that does not fit is dropped for that subscriber, counted, and
    /// reported as a slow consumer. It must hold at least one message of `max_payload`.
    pub kcp: KcpConfig,
    /// Subject limits, queue member choice and subscription index bounds (total subscriptions,
    /// match cache).
    pub index: IndexConfig,
    /// Handshake responder settings (half-open bounds, resets).
    pub responder: ResponderConfig,
    /// Bound of the event queue.
    pub max_events: usize,
    /// Bound of queued handshake replies.
    pub max_pending_replies: usize,
    /// Bound of each subscription's queue of whole MSG frames waiting for the client's stream
    /// (its byte bound is raised to hold at least two messages of `max_payload`). The policy is
    /// the subscriber's choice (SUB flag `DROP_OLDEST`), drop-newest by default.
    pub subscription_queue: QueueLimits,
    /// Server-wide bound of bytes in all subscription queues.
    pub max_pending_bytes: usize,
    /// Frames move from subscription queues into a session's KCP stream only while its unsent
    /// bytes are below this (`None`: one send window, `snd_wnd * mss`).
    pub low_watermark: Option<usize>,
    /// How long `shutdown` waits for CLOSE frames to be acknowledged before dropping sessions.
    pub shutdown_linger: Duration,
    /// Bound of the owner's outstanding requests ([`Server::request`](super::Server::request)).
    pub max_requests: usize,
    /// Prefix of the inbox subject of the owner's requests (a random token follows).
    pub inbox_prefix: String,
    /// Cut-through delivery of large messages to version 3 clients.
    pub cut_through: CutThroughConfig,
    /// Forward error correction for clients that offer it (version 3; default off). Sessions
    /// use it when both sides want it; the client's mode governs its parity, this one the
    /// server's.
    pub fec: FecConfig,
    /// Server-wide bound of the bytes all sessions' FEC decoders hold (default 64 MiB): when
    /// reached, a session's decoder keeps no more than it holds already (its data shards still
    /// pass; losses are left to KCP's retransmission).
    pub fec_max_decoder_bytes: usize,
    /// With several workers: the bound of bytes of messages one worker has sent to another and
    /// that one has not taken in yet (default 32 MiB). A message over it is dropped and counted
    /// (`ServerDrops::cross_worker_full`), and each subscription on that worker it was meant
    /// for counts it as dropped and is reported as a slow consumer.
    pub max_cross_bytes: usize,
}

/// Cut-through delivery: a large PUB is routed when its head has arrived and its payload is
/// forwarded to subscribers as its bytes arrive (MSG_BEGIN, MSG_PART), instead of after its last
/// byte. A frame of ~75 datagrams then crosses the server without waiting for all of them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CutThroughConfig {
    /// Payloads of at least this many bytes go cut-through (`None`: off, every message is
    /// received whole first). Default 16 KiB: a dozen datagrams.
    pub min_payload: Option<usize>,
    /// A message whose publisher sends none of its bytes for this long is aborted for its
    /// cut-through recipients (MSG_ABORT); they get it whole if it completes. Default 1 s.
    pub stall_timeout: Duration,
    /// A message still incomplete this long after its head arrived is aborted the same way,
    /// however steadily its bytes trickle in. Default 10 s.
    pub max_duration: Duration,
    /// Most messages open for cut-through at once, server-wide; a large message beyond it is
    /// received whole first. Default 256.
    pub max_open: usize,
}

impl Default for CutThroughConfig {
    fn default() -> Self {
        CutThroughConfig {
            min_payload: Some(16 * 1024),
            stall_timeout: Duration::from_secs(1),
            max_duration: Duration::from_secs(10),
            max_open: 256,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            server_name: "kcpq".to_owned(),
            max_payload: DEFAULT_MAX_PAYLOAD,
            max_sessions: DEFAULT_MAX_SESSIONS,
            max_subscriptions_per_session: DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION,
            ping_interval: DEFAULT_PING_INTERVAL,
            dead_after: DEFAULT_DEAD_AFTER,
            duplicate_names: DuplicateNames::default(),
            evict_silent_when_full: true,
            connect_deadline: DEFAULT_CONNECT_DEADLINE,
            kcp: KcpConfig::fast(),
            index: IndexConfig::default(),
            responder: ResponderConfig::default(),
            max_events: DEFAULT_MAX_EVENTS,
            max_pending_replies: DEFAULT_MAX_PENDING_REPLIES,
            subscription_queue: QueueLimits {
                max_messages: DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES,
                max_bytes: DEFAULT_SUBSCRIPTION_QUEUE_BYTES,
            },
            max_pending_bytes: DEFAULT_MAX_PENDING_BYTES,
            low_watermark: None,
            shutdown_linger: DEFAULT_SHUTDOWN_LINGER,
            max_requests: DEFAULT_MAX_SERVER_REQUESTS,
            inbox_prefix: "_INBOX".to_owned(),
            cut_through: CutThroughConfig::default(),
            fec: FecConfig::default(),
            fec_max_decoder_bytes: DEFAULT_FEC_MAX_DECODER_BYTES,
            max_cross_bytes: DEFAULT_MAX_CROSS_BYTES,
        }
    }
}

/// What the server does with a CONNECT naming a client that is connected already, from another
/// client instance (a restarted process, or a second one configured with the same name). A
/// CONNECT from the same instance (a reconnect) always replaces its old session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum DuplicateNames {
    /// The new session takes the name over, as MQTT does with client ids: the old session is
    /// told (`ERR Replaced`, then CLOSE), closed with
    /// [`CloseReason::Replaced`](crate::session::CloseReason::Replaced), counted in `sessions_replaced`, and its client
    /// does not reconnect. A crashed and restarted service is back at once.
    #[default]
    TakeOver,
    /// The new session is refused with `ERR DuplicateName` until the old one closes or is
    /// found dead.
    Refuse,
}

impl ServerConfig {
    /// How long a session whose client PINGs every `client_ping` (0: not announced) may stay
    /// silent before it is dead: two effective intervals plus a margin of half an interval, at
    /// least [`MIN_SILENCE_MARGIN`], and never more than `dead_after`. The effective interval
    /// is the shorter of the client's and the server's `ping_interval`, which clients obey.
    /// With the defaults (15 s): 37.5 s.
    pub fn silence_limit(&self, client_ping: Duration) -> Duration {
        let interval = self.effective_ping_interval(client_ping);
        let margin = (interval / 2).max(MIN_SILENCE_MARGIN);
        (interval.saturating_mul(2).saturating_add(margin)).min(self.dead_after)
    }

    /// The interval a client PINGs at: its announced one, at most the server's.
    pub(crate) fn effective_ping_interval(&self, client_ping: Duration) -> Duration {
        if client_ping.is_zero() {
            self.ping_interval
        } else {
            client_ping.min(self.ping_interval)
        }
    }

    /// The largest frame body the server accepts from a client.
    pub(crate) fn max_frame_body(&self) -> usize {
        crate::proto::max_frame_len(self.max_payload, self.index.limits.max_len)
    }

    /// The unsent bytes under which queued frames move into a session's stream.
    pub(crate) fn watermark(&self) -> usize {
        self.low_watermark.unwrap_or_else(|| {
            usize::from(self.kcp.send_window) * self.kcp.mtu.saturating_sub(crate::kcp::HEADER_LEN)
        })
    }

    /// The bound of one subscription's queue, raised to hold two frames of `max_payload`.
    pub(crate) fn queue_limits(&self) -> QueueLimits {
        let mut limits = self.subscription_queue;
        limits.max_bytes = limits
            .max_bytes
            .max(2 * (self.max_frame_body() + crate::proto::LEN_PREFIX));
        limits
    }
}

/// A [`ServerConfig`] that cannot work.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ServerConfigError {
    /// The KCP settings are invalid.
    #[error(transparent)]
    Kcp(#[from] crate::kcp::KcpConfigError),
    /// The FEC settings are invalid.
    #[error(transparent)]
    Fec(#[from] crate::fec::FecConfigError),
    /// One message of `max_payload` would not fit in a session's send buffer.
    #[error(
        "max_payload {max_payload} does not fit the per-session send buffer of {send_buffer} bytes: raise kcp.send_buffer_limit or lower max_payload"
    )]
    PayloadOverSendBuffer {
        /// The payload limit.
        max_payload: usize,
        /// The KCP send buffer limit.
        send_buffer: usize,
    },
    /// The send buffer cannot hold a window in flight, the low watermark and one whole frame.
    #[error(
        "kcp.send_buffer_limit of {send_buffer} bytes is below the {needed} bytes a session needs (one send window in flight + low watermark + one max_payload frame): raise kcp.send_buffer_limit or lower low_watermark / max_payload"
    )]
    WatermarkOverSendBuffer {
        /// What the settings need.
        needed: usize,
        /// The KCP send buffer limit.
        send_buffer: usize,
    },
    /// A limit that must be at least 1 is 0.
    #[error("{0} must be at least 1")]
    Zero(&'static str),
    /// A worker index outside the group.
    #[error("worker index {index} is outside a group of {count} workers")]
    WorkerIndex {
        /// The index asked for.
        index: usize,
        /// The group's worker count.
        count: usize,
    },
}

impl ServerConfig {
    /// The configuration of one of `workers` workers: the limits each worker enforces alone
    /// (half-open handshakes, the reset rate, pending bytes, FEC decoder memory) get an even
    /// share, rounded up; the subscription index holds every worker's subscriptions, so it gets
    /// room for twice the limit, which the announcing worker enforces over all of them.
    pub(super) fn share_for_worker(mut self, workers: usize) -> ServerConfig {
        if workers <= 1 {
            return self;
        }
        let share = |n: usize| n.div_ceil(workers).max(1);
        let share32 = |n: u32| n.div_ceil(workers as u32).max(1);
        self.responder.max_half_open = share(self.responder.max_half_open);
        self.responder.reset.burst = share32(self.responder.reset.burst);
        self.responder.reset.per_second = share32(self.responder.reset.per_second);
        self.max_pending_bytes = share(self.max_pending_bytes);
        self.fec_max_decoder_bytes = share(self.fec_max_decoder_bytes);
        self.index.max_subscriptions = self.index.max_subscriptions.saturating_mul(2);
        self
    }

    /// Checks that the settings can work together.
    pub fn validate(&self) -> Result<(), ServerConfigError> {
        self.kcp.validate()?;
        self.fec.validate()?;
        if self.max_frame_body() + crate::proto::LEN_PREFIX > self.kcp.send_buffer_limit {
            return Err(ServerConfigError::PayloadOverSendBuffer {
                max_payload: self.max_payload,
                send_buffer: self.kcp.send_buffer_limit,
            });
        }
        // A frame moved from a queue must always fit: the send buffer holds what is in flight
        // (at most a window), what waits up to the watermark, and one whole frame.
        let window = usize::from(self.kcp.send_window) * self.kcp.mtu;
        let needed = window + self.watermark() + self.max_frame_body() + crate::proto::LEN_PREFIX;
        if needed > self.kcp.send_buffer_limit {
            return Err(ServerConfigError::WatermarkOverSendBuffer {
                needed,
                send_buffer: self.kcp.send_buffer_limit,
            });
        }
        for (name, value) in [
            ("max_sessions", self.max_sessions),
            (
                "max_subscriptions_per_session",
                self.max_subscriptions_per_session,
            ),
            ("max_events", self.max_events),
            ("max_pending_replies", self.max_pending_replies),
            ("max_requests", self.max_requests),
            (
                "subscription_queue.max_messages",
                self.subscription_queue.max_messages,
            ),
        ] {
            if value == 0 {
                return Err(ServerConfigError::Zero(name));
            }
        }
        Ok(())
    }
}
