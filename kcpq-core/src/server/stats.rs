//! Server counters.

/// Why the server dropped a datagram or a frame. Each reason has its own counter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerDrops {
    /// Datagrams too short or of an unknown type.
    pub malformed_datagram: u64,
    /// Data packets for a session id the server does not know (answered by a stateless reset
    /// when the rate limit allows).
    pub unknown_session: u64,
    /// Data packets that failed authentication (forged, corrupted, wrong key).
    pub bad_tag: u64,
    /// Data packets already received (replays, network duplicates).
    pub duplicate: u64,
    /// Data packets older than the replay window or under expired keys.
    pub too_old: u64,
    /// Frames from a client that broke the protocol (the session is closed).
    pub protocol_violation: u64,
    /// Messages not delivered because the subscription's queue was full (its policy chose
    /// which message was lost).
    pub slow_consumer: u64,
    /// Messages not queued because all subscription queues together hold `max_pending_bytes`.
    pub server_pending_full: u64,
    /// Messages still queued for a subscription when its session ended.
    pub unsubscribed: u64,
    /// PUBs ignored, and sessions refused, while the server drains or shuts down.
    pub draining: u64,
    /// Handshake replies dropped because the reply queue was full.
    pub reply_queue_full: u64,
    /// Events dropped because the event queue was full (the oldest go first).
    pub events: u64,
    /// Sessions refused at the session limit.
    pub session_limit: u64,
    /// Messages (and datagrams of its sessions) not passed to another worker because the bytes
    /// in flight to it reached `max_cross_bytes` (that worker is not keeping up). Counted once
    /// per message and worker, here on the sender; each subscription the message was meant for
    /// counts it too, in its `dropped`, on its own worker.
    pub cross_worker_full: u64,
    /// Queue-group messages routed to another worker whose chosen member, and every other
    /// member of the group there, left before the message arrived.
    pub queue_member_gone: u64,
}

/// Server-wide counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServerStats {
    /// Sessions open now.
    pub sessions: u64,
    /// Sessions opened since start.
    pub sessions_opened: u64,
    /// Sessions closed since start, for any reason.
    pub sessions_closed: u64,
    /// Sessions ended because their client fell silent (about two ping intervals, at most
    /// `dead_after`): clients that vanished without a CLOSE.
    pub sessions_silent: u64,
    /// Sessions whose client name a new client instance took over.
    pub sessions_replaced: u64,
    /// Silent sessions evicted to make room for a new client at the session limit.
    pub sessions_evicted: u64,
    /// Subscriptions held now.
    pub subscriptions: u64,
    /// Messages published by clients.
    pub msgs_in: u64,
    /// Payload bytes published by clients.
    pub bytes_in: u64,
    /// Messages delivered to subscriptions.
    pub msgs_out: u64,
    /// Payload bytes delivered to subscriptions.
    pub bytes_out: u64,
    /// Datagrams received.
    pub datagrams_in: u64,
    /// Datagrams sent.
    pub datagrams_out: u64,
    /// Bytes of every datagram received, as UDP payloads: handshakes, ACKs, garbage included.
    pub wire_bytes_in: u64,
    /// Bytes of every datagram sent, as UDP payloads: handshakes, ACKs and retransmissions
    /// included. With `bytes_out`, what the protocol costs on the wire.
    pub wire_bytes_out: u64,
    /// Handshakes that did not complete (malformed, wrong key, expired half-open sessions),
    /// as counted by the handshake responder.
    pub handshake_failures: u64,
    /// Requests answered at once with "no responders".
    pub no_responders: u64,
    /// Keepalive PINGs received (not answered: their KCP acknowledgement is the answer).
    pub keepalives: u64,
    /// Bytes waiting in subscription queues now.
    pub pending_bytes: u64,
    /// Slow-consumer bursts (each reported once with an event and an ERR to the client).
    pub slow_consumers: u64,
    /// Large messages forwarded cut-through (to at least one subscriber as their bytes came).
    pub cut_through: u64,
    /// Cut-through messages aborted (MSG_ABORT) because their publisher stalled, took too long
    /// or left mid-message.
    pub cut_through_aborted: u64,
    /// Messages this worker sent to the server's other workers (interest, messages,
    /// datagrams, acknowledgements), and received from them.
    pub cross_out: u64,
    /// Messages received from the server's other workers.
    pub cross_in: u64,
    /// Datagrams that reached this worker's socket but belong to another worker's session,
    /// passed to it.
    pub datagrams_forwarded: u64,
    /// What forward error correction did, over all sessions (`sessions`: those using it now).
    pub fec: crate::fec::FecStats,
    /// Drops by reason.
    pub drops: ServerDrops,
}

/// Counters of one subscription.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// Messages handed to the session's stream.
    pub delivered: u64,
    /// Messages dropped because the subscription's queue was full, or, with several workers,
    /// lost at the bound of the crossing from the publisher's worker.
    pub dropped: u64,
    /// Messages waiting in the subscription's queue now.
    pub pending: u64,
}

impl std::ops::AddAssign for ServerDrops {
    fn add_assign(&mut self, other: ServerDrops) {
        self.malformed_datagram += other.malformed_datagram;
        self.unknown_session += other.unknown_session;
        self.bad_tag += other.bad_tag;
        self.duplicate += other.duplicate;
        self.too_old += other.too_old;
        self.protocol_violation += other.protocol_violation;
        self.slow_consumer += other.slow_consumer;
        self.server_pending_full += other.server_pending_full;
        self.unsubscribed += other.unsubscribed;
        self.draining += other.draining;
        self.reply_queue_full += other.reply_queue_full;
        self.events += other.events;
        self.session_limit += other.session_limit;
        self.cross_worker_full += other.cross_worker_full;
        self.queue_member_gone += other.queue_member_gone;
    }
}

/// Sums the counters of the workers of one server (each counts its own sessions and
/// messages), giving the server's.
impl std::ops::AddAssign for ServerStats {
    fn add_assign(&mut self, other: ServerStats) {
        self.sessions += other.sessions;
        self.sessions_opened += other.sessions_opened;
        self.sessions_closed += other.sessions_closed;
        self.sessions_silent += other.sessions_silent;
        self.sessions_replaced += other.sessions_replaced;
        self.sessions_evicted += other.sessions_evicted;
        self.subscriptions += other.subscriptions;
        self.msgs_in += other.msgs_in;
        self.bytes_in += other.bytes_in;
        self.msgs_out += other.msgs_out;
        self.bytes_out += other.bytes_out;
        self.datagrams_in += other.datagrams_in;
        self.datagrams_out += other.datagrams_out;
        self.wire_bytes_in += other.wire_bytes_in;
        self.wire_bytes_out += other.wire_bytes_out;
        self.handshake_failures += other.handshake_failures;
        self.no_responders += other.no_responders;
        self.keepalives += other.keepalives;
        self.pending_bytes += other.pending_bytes;
        self.slow_consumers += other.slow_consumers;
        self.cut_through += other.cut_through;
        self.cut_through_aborted += other.cut_through_aborted;
        self.cross_out += other.cross_out;
        self.cross_in += other.cross_in;
        self.datagrams_forwarded += other.datagrams_forwarded;
        self.fec += other.fec;
        self.drops += other.drops;
    }
}
