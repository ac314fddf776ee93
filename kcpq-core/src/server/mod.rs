//! The broker server as a sans-IO state machine.
//!
//! [`Server`] owns the handshake responder, every established session, the subscription index
//! and the routing between them. It is driven as described in the crate docs (the drain
//! contract): feed it datagrams and timeouts, then drain `poll_transmit`, `poll_event` and read
//! `poll_timeout`.

mod config;
mod cross;
mod cut_through;
mod delivery;
mod frames;
mod owner;
mod replaced;
mod routing;
mod shutdown;
mod stats;
mod table;
mod workers;

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;

use crate::Instant;
use crate::crypto::handshake::MAX_RESPONDER_REPLY_LEN;
use crate::crypto::reset::MAX_RESET_LEN;
use crate::crypto::{
    EstablishDrop, HandshakeResponder, KeySet, OpenDrop, PrecomputedTag, UntaggedPacket,
    is_handshake_packet, peek_session_id,
};
use crate::kcp::KcpStats;
use crate::proto::{Close, Frame};
use crate::rng::{Rng, Seed};
use crate::session::{CloseReason, Received, SealBatch, Session, handle_in_groups};
use crate::subject::{MatchResult, SubscriptionIndex};

pub use config::{
    CutThroughConfig, DEFAULT_CONNECT_DEADLINE, DEFAULT_DEAD_AFTER, DEFAULT_FEC_MAX_DECODER_BYTES,
    DEFAULT_MAX_CROSS_BYTES, DEFAULT_MAX_EVENTS, DEFAULT_MAX_PAYLOAD, DEFAULT_MAX_PENDING_BYTES,
    DEFAULT_MAX_PENDING_REPLIES, DEFAULT_MAX_SERVER_REQUESTS, DEFAULT_MAX_SESSIONS,
    DEFAULT_MAX_SUBSCRIPTIONS_PER_SESSION, DEFAULT_PING_INTERVAL, DEFAULT_SHUTDOWN_LINGER,
    DEFAULT_SUBSCRIPTION_QUEUE_BYTES, DEFAULT_SUBSCRIPTION_QUEUE_MESSAGES, DuplicateNames,
    MIN_SILENCE_MARGIN, ServerConfig, ServerConfigError,
};
pub use owner::{ServerPublishError, ServerSubscribeError};
pub use stats::{ServerDrops, ServerStats, SubscriptionStats};
pub use workers::{CrossMsg, MAX_WORKERS, WorkerGroup, WorkerGroupError};

pub use crate::drive::Transmit;
use crate::message::{Message, RequestFailure, RequestId};

pub use table::{MAX_DEFERRED_PONGS, TRANSMIT_BURST};
use table::{SessionTable, SlotId};

/// The largest handshake reply or reset the server writes.
const MAX_REPLY_LEN: usize = if MAX_RESPONDER_REPLY_LEN > MAX_RESET_LEN {
    MAX_RESPONDER_REPLY_LEN
} else {
    MAX_RESET_LEN
};

/// Something the owner of a [`Server`] may want to know.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerEvent {
    /// A client completed CONNECT.
    SessionOpened {
        /// The client's name.
        name: String,
        /// Its address.
        addr: SocketAddr,
    },
    /// A session ended.
    SessionClosed {
        /// The client's name (empty if it never sent CONNECT).
        name: String,
        /// Its last address.
        addr: SocketAddr,
        /// Why.
        reason: CloseReason,
    },
    /// A subscription's queue overflowed and its policy dropped messages (the client was told
    /// with an ERR too). Reported once per burst: at the first drop after a successful push.
    SlowConsumer {
        /// The client's name.
        name: String,
        /// The subscription id.
        sid: u32,
    },
    /// A message for one of the owner's subscriptions ([`Server::subscribe`]).
    Message(Message),
    /// The reply to one of the owner's requests ([`Server::request`]).
    Reply(RequestId, Message),
    /// One of the owner's requests ended without a reply.
    RequestFailed(RequestId, RequestFailure),
    /// [`Server::shutdown`] (or a drain) is complete: every session is closed.
    ShutdownComplete,
}

/// One session as the owner of a [`Server`] sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SessionInfo {
    /// The client's name (empty until CONNECT).
    pub name: String,
    /// Its current address.
    pub addr: SocketAddr,
    /// When the session was established (CONNECT accepted, or the handshake before it).
    pub connected_since: Instant,
    /// When the last authenticated datagram arrived.
    pub last_heard: Instant,
    /// KCP's smoothed round-trip time.
    pub rtt: std::time::Duration,
    /// Subscriptions it holds.
    pub subscriptions: usize,
    /// The state of its KCP stream and the frames waiting for it.
    pub transport: TransportInfo,
    /// The index of the server worker that owns it (0 for a server alone).
    pub worker: usize,
}

/// Where a session's outgoing data stands: what tells a slow link from a slow reader.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TransportInfo {
    /// Data segments sent (or admitted into the window) and not yet acknowledged.
    pub in_flight_segments: usize,
    /// Stream bytes written but waiting for the send window to open.
    pub unsent_bytes: usize,
    /// The client's last advertised free receive window, in segments (0 stalls sending).
    pub remote_window: u16,
    /// KCP's current retransmission timeout.
    pub rto: std::time::Duration,
    /// MSG frames waiting in the session's subscription queues (the stream was above its
    /// low watermark when they were routed).
    pub queued_msgs: usize,
    /// Bytes of those frames.
    pub queued_bytes: usize,
    /// The KCP endpoint's counters (datagrams, retransmissions, ACKs, drops).
    pub kcp: KcpStats,
}

/// One subscription of a session, with its counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionInfo {
    /// The client-chosen id.
    pub sid: u32,
    /// The subject filter.
    pub filter: String,
    /// The queue group, if any.
    pub queue: Option<String>,
    /// Messages still to deliver before it ends (`UNSUB` with a count).
    pub remaining: Option<u64>,
    /// Counters.
    pub stats: SubscriptionStats,
}

/// A subscription as the index stores it: (slot << 32) | sid. Ordered by session, then sid.
type SubKey = u64;

/// The session slot of the owner's own subscriptions (never a real session: sessions are
/// bounded by `max_sessions`, far below).
const LOCAL_SLOT: SlotId = SlotId::MAX;

/// A shutdown or drain in progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shutdown {
    /// Draining: no new sessions or publishes; queued messages are still delivered until
    /// `deadline`, then the shutdown starts.
    Draining { deadline: Instant },
    /// CLOSE sent to every session; sessions are dropped once it is acknowledged or at
    /// `deadline`.
    Closing { deadline: Instant },
    /// Every session is closed.
    Done,
}

/// The transport snapshot of one session for [`Server::sessions`].
fn transport_info(slot: &table::Slot) -> TransportInfo {
    let kcp = slot.session.kcp();
    TransportInfo {
        in_flight_segments: kcp.unacked_segments(),
        unsent_bytes: kcp.unsent_bytes(),
        remote_window: kcp.remote_window(),
        rto: kcp.rto(),
        queued_msgs: slot.subs.values().map(|s| s.pending.len()).sum(),
        queued_bytes: slot.subs.values().map(|s| s.pending.bytes()).sum(),
        kcp: kcp.stats().clone(),
    }
}

fn sub_key(slot: SlotId, sid: u32) -> SubKey {
    (u64::from(slot) << 32) | u64::from(sid)
}

fn split_key(key: SubKey) -> (SlotId, u32) {
    ((key >> 32) as SlotId, key as u32)
}

/// The KCPQ broker, as a pure state machine.
#[derive(Debug)]
pub struct Server {
    config: ServerConfig,
    responder: HandshakeResponder,
    table: SessionTable,
    index: SubscriptionIndex<SubKey>,
    /// The names of this worker's sessions (the group's registry holds every worker's).
    names: BTreeMap<String, SlotId>,
    /// This worker's place among the server's workers (alone: a group of one).
    cross: cross::Cross,
    /// Datagrams outside any live session: handshake replies, resets, last words to a closed
    /// session. Bounded by `max_pending_replies`.
    replies: VecDeque<(SocketAddr, Vec<u8>)>,
    /// Session datagrams sealed with the one `poll_transmit` handed out, their tags computed
    /// together; the next calls hand them out first. At most `kcpq_mac::BATCH - 1`.
    sealed: SealBatch,
    events: VecDeque<ServerEvent>,
    matches: MatchResult<SubKey>,
    stats: ServerStats,
    next_client_number: u64,
    /// Random per server start, part of server-assigned client names.
    name_token: u32,
    owner: owner::Owner,
    /// Bytes in all subscription queues.
    pending_bytes: usize,
    /// Bytes all sessions' FEC decoders hold (bounded by `config.fec_max_decoder_bytes`).
    fec_memory: usize,
    /// Unsent bytes under which queued frames move into a session's stream.
    watermark: usize,
    /// The bound of each subscription queue.
    queue_limits: crate::queue::QueueLimits,
    shutdown: Option<Shutdown>,
    /// Publishers whose large PUB is being forwarded cut-through now (at most
    /// `cut_through.max_open`).
    open_cuts: Vec<SlotId>,
}

impl Server {
    /// A server accepting any key of `keys`, with randomness expanded from `seed` (adapters pass
    /// fresh OS randomness; tests a fixed seed). Fails if the configuration cannot work.
    pub fn new(
        config: ServerConfig,
        keys: &KeySet,
        seed: Seed,
        now: Instant,
    ) -> Result<Server, ServerConfigError> {
        let mut rng = Rng::from_seed(seed);
        let group = WorkerGroup::new(1, rng.bytes(), config.max_sessions, config.dead_after)
            .expect("one worker is a valid count");
        Server::new_worker(config, keys, rng.bytes(), now, &group, 0)
    }

    /// Worker `index` of the server whose workers share `group` (see [`WorkerGroup`]). Each
    /// worker takes `config` as the whole server's: the limits a worker cannot share without
    /// a message per datagram (half-open handshakes, the reset rate, pending bytes, FEC decoder
    /// memory) are split evenly between the workers. `seed` must differ per worker.
    pub fn new_worker(
        config: ServerConfig,
        keys: &KeySet,
        seed: Seed,
        now: Instant,
        group: &WorkerGroup,
        index: usize,
    ) -> Result<Server, ServerConfigError> {
        config.validate()?;
        let count = group.count();
        if index >= count {
            return Err(ServerConfigError::WorkerIndex { index, count });
        }
        let max_subscriptions = config.index.max_subscriptions;
        let config = config.share_for_worker(count);
        let mut rng = Rng::from_seed(seed);
        let token: [u8; 8] = rng.bytes();
        let name_token = group.name_token();
        let id_space = crate::crypto::SessionIdSpace {
            index: u8::try_from(index).expect("at most MAX_WORKERS"),
            count: u8::try_from(count).expect("at most MAX_WORKERS"),
        };
        let inbox = format!(
            "{}.server-{:016x}",
            config.inbox_prefix,
            u64::from_le_bytes(token)
        );
        Ok(Server {
            owner: owner::Owner::new(inbox),
            pending_bytes: 0,
            fec_memory: 0,
            watermark: config.watermark(),
            queue_limits: config.queue_limits(),
            shutdown: None,
            open_cuts: Vec::new(),
            responder: HandshakeResponder::sharing(
                keys,
                rng,
                group.cookie_master(),
                id_space,
                config.responder.clone(),
                now,
            ),
            table: SessionTable::default(),
            index: SubscriptionIndex::new(config.index.clone()),
            names: BTreeMap::new(),
            cross: cross::Cross::new(
                group.clone(),
                index,
                max_subscriptions,
                config.max_cross_bytes,
            ),
            replies: VecDeque::new(),
            sealed: SealBatch::default(),
            events: VecDeque::new(),
            matches: MatchResult::new(),
            stats: ServerStats::default(),
            next_client_number: 1,
            name_token,
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Server-wide counters.
    pub fn stats(&self) -> ServerStats {
        let mut stats = self.stats.clone();
        let hs = self.responder.stats();
        stats.handshake_failures = hs.dropped_malformed
            + hs.dropped_version
            + hs.dropped_unknown_key
            + hs.dropped_bad_cookie
            + hs.dropped_bad_proof
            + hs.half_open_expired;
        stats.pending_bytes = self.pending_bytes as u64;
        for (_, slot) in self.table.iter() {
            stats.fec += slot.session.fec_stats();
        }
        stats
    }

    /// Sessions open now (CONNECT done or pending).
    pub fn session_count(&self) -> usize {
        self.table.len()
    }

    /// Every session, in a stable order.
    pub fn sessions(&self) -> Vec<SessionInfo> {
        self.table
            .iter()
            .map(|(_, slot)| SessionInfo {
                name: slot.name.clone(),
                addr: slot.session.peer(),
                connected_since: slot.opened_at,
                last_heard: slot.session.last_heard(),
                rtt: slot.session.kcp().srtt(),
                subscriptions: slot.subs.len(),
                transport: transport_info(slot),
                worker: self.cross.index,
            })
            .collect()
    }

    /// The subscriptions of the client named `name`, if it is connected.
    pub fn subscriptions_of(&self, name: &str) -> Option<Vec<SubscriptionInfo>> {
        let slot = self.table.get(*self.names.get(name)?)?;
        Some(
            slot.subs
                .iter()
                .map(|(sid, sub)| SubscriptionInfo {
                    sid: *sid,
                    filter: sub.filter.clone(),
                    queue: sub.queue.clone(),
                    remaining: sub.remaining,
                    stats: SubscriptionStats {
                        pending: sub.pending.len() as u64,
                        ..sub.stats
                    },
                })
                .collect(),
        )
    }

    /// Half-open handshakes held now.
    pub fn half_open_count(&self) -> usize {
        self.responder.half_open_len()
    }

    /// Handles one datagram from `from`. The buffer is decrypted in place.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        self.handle_datagram_with(now, from, datagram, None);
    }

    /// Handles datagrams that arrived together, in order: the same as
    /// [`Server::handle_datagram`] for each, but the tags of up to four data packets are
    /// computed at once where the CPU has the SHA extensions.
    pub fn handle_datagrams(&mut self, now: Instant, datagrams: &mut [(SocketAddr, &mut [u8])]) {
        handle_in_groups(
            self,
            datagrams,
            |server, d| {
                if is_handshake_packet(d) {
                    return None;
                }
                let slot = server.table.find(peek_session_id(d)?)?;
                Some(&server.table.get(slot)?.session)
            },
            |server, from, datagram, tag| server.handle_datagram_with(now, from, datagram, tag),
        );
    }

    fn handle_datagram_with(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
        precomputed: Option<&PrecomputedTag>,
    ) {
        self.stats.datagrams_in += 1;
        self.stats.wire_bytes_in += datagram.len() as u64;
        if is_handshake_packet(datagram) {
            self.handle_handshake(now, from, datagram);
            return;
        }
        let Some(id) = peek_session_id(datagram) else {
            self.stats.drops.malformed_datagram += 1;
            return;
        };
        if !self.cross.is_alone() {
            let owner = usize::from(self.responder.id_space().owner_of(id));
            if self.forward_if_foreign(owner, from, datagram) {
                return;
            }
        }
        self.handle_forwarded(now, from, datagram, precomputed);
    }

    /// Handles a data packet of one of this worker's sessions (or a new one), whichever
    /// worker's socket it reached.
    fn handle_forwarded(
        &mut self,
        now: Instant,
        from: SocketAddr,
        datagram: &mut [u8],
        precomputed: Option<&PrecomputedTag>,
    ) {
        let Some(id) = peek_session_id(datagram) else {
            self.stats.drops.malformed_datagram += 1;
            return;
        };
        let Some(slot) = self.table.find(id) else {
            if self.shutdown.is_some() {
                self.stats.drops.draining += 1;
                return;
            }
            self.establish(now, from, datagram);
            return;
        };
        let session = &mut self.table.get_mut(slot).expect("found by id").session;
        // The FEC decoders of all sessions share one bound: this one may keep what it holds
        // plus what the others leave free.
        let held = session.fec_memory();
        let others = self.fec_memory.saturating_sub(held);
        session.set_fec_memory_limit(self.config.fec_max_decoder_bytes.saturating_sub(others));
        let result = session.handle_datagram(now, from, datagram, precomputed);
        self.fec_memory = others + session.fec_memory();
        match result {
            Received::Accepted => {
                // Frames first: the sessions they deliver to join the transmit queue ahead of
                // this one, whose output may be nothing but the ACK of this datagram, so that
                // ACK's send never delays a message on its way.
                self.process_frames(now, slot);
                self.table.mark_dirty(slot);
                if self.shutdown.is_some() {
                    self.advance_shutdown(now);
                }
            }
            Received::Dropped(drop) => self.count_open_drop(drop),
        }
    }

    fn count_open_drop(&mut self, drop: OpenDrop) {
        let drops = &mut self.stats.drops;
        match drop {
            OpenDrop::Duplicate => drops.duplicate += 1,
            OpenDrop::TooOld | OpenDrop::NoKeys => drops.too_old += 1,
            OpenDrop::BadTag | OpenDrop::WrongSession => drops.bad_tag += 1,
            _ => drops.malformed_datagram += 1,
        }
    }

    fn handle_handshake(&mut self, now: Instant, from: SocketAddr, datagram: &[u8]) {
        if self.shutdown.is_some() {
            self.stats.drops.draining += 1;
            return;
        }
        let mut out = [0u8; MAX_REPLY_LEN];
        let len = self
            .responder
            .handle(now, from, datagram, &mut out)
            .expect("the reply buffer holds MAX_RESPONDER_REPLY_LEN bytes");
        if let Some(len) = len {
            self.queue_reply(from, &out[..len]);
        }
    }

    fn queue_reply(&mut self, to: SocketAddr, bytes: &[u8]) {
        if self.replies.len() >= self.config.max_pending_replies {
            self.stats.drops.reply_queue_full += 1;
            return;
        }
        self.replies.push_back((to, bytes.to_vec()));
    }

    fn establish(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        match self.responder.try_establish(now, from, datagram) {
            Ok((established, opened)) => {
                let max = self.config.max_sessions;
                let admitted = self.cross.group.try_open_session(max)
                    || (self.evict_for_new(now) && self.cross.group.try_open_session(max));
                // With no silent session here, another worker may evict one: the newcomer
                // waits for it over the limit, for a moment (see `park`).
                let parked = !admitted && self.ask_for_eviction();
                if !admitted && !parked {
                    self.stats.drops.session_limit += 1;
                    let mut session = self.new_session(established, now);
                    session.accept_opened(now, from, datagram, opened);
                    self.refuse_session(now, session);
                    return;
                }
                let mut session = self.new_session(established, now);
                session.accept_opened(now, from, datagram, opened);
                self.fec_memory += session.fec_memory();
                let slot = self.table.insert(session, now, self.config.ping_interval);
                self.stats.sessions += 1;
                if parked {
                    self.park(now, slot);
                }
                self.process_frames(now, slot);
            }
            Err(EstablishDrop::UnknownSession) => {
                self.stats.drops.unknown_session += 1;
                let mut out = [0u8; MAX_REPLY_LEN];
                if let Some(len) = self.responder.stateless_reset(now, datagram, &mut out) {
                    self.queue_reply(from, &out[..len]);
                }
            }
            Err(EstablishDrop::Packet(drop)) => self.count_open_drop(drop),
            Err(_) => self.stats.drops.malformed_datagram += 1,
        }
    }

    fn new_session(&self, established: crate::crypto::EstablishedSession, now: Instant) -> Session {
        Session::new(
            established,
            self.config.kcp.clone(),
            self.config.max_frame_body(),
            self.config.dead_after,
            &self.config.fec,
            now,
        )
    }

    /// The table is full and a client that proved the key wants in: closes the session silent
    /// the longest if it has missed a PING, that is been silent for more than one and a half
    /// ping intervals (told with `ERR Evicted` and CLOSE). Returns whether room was made.
    /// Scans every session: this runs only at the session limit, for a peer that holds the key.
    fn evict_for_new(&mut self, now: Instant) -> bool {
        if !self.config.evict_silent_when_full {
            return false;
        }
        match self.silent_victim(now) {
            Some(victim) => {
                self.evict(now, victim);
                true
            }
            None => false,
        }
    }

    /// The session silent the longest, if it has missed a PING (silent for more than one and
    /// a half ping intervals). Scans every session: this runs only at the session limit.
    pub(super) fn silent_victim(&self, now: Instant) -> Option<SlotId> {
        self.table
            .iter()
            .filter(|(_, slot)| {
                now.saturating_duration_since(slot.session.last_heard())
                    > slot.ping_interval.saturating_mul(3) / 2
            })
            .min_by_key(|(id, slot)| (slot.session.last_heard(), *id))
            .map(|(id, _)| id)
    }

    /// Closes `victim` to make room for a new client, telling it why.
    pub(super) fn evict(&mut self, now: Instant, victim: SlotId) {
        self.send_err(
            victim,
            0,
            crate::proto::ErrorCode::Evicted,
            "the server is full and this session was silent the longest",
        );
        self.close_slot(now, victim, CloseReason::Evicted, true);
        self.stats.sessions_evicted += 1;
    }

    /// A session over the limit: tell it why in its own stream, then forget it. Its KCP state
    /// is not kept, so the ERR reaches the client only if that one datagram is not lost; the
    /// client's connect then fails or times out and it retries later, as intended.
    fn refuse_session(&mut self, now: Instant, mut session: Session) {
        let err = Frame::Err(crate::proto::ErrFrame {
            req_id: 0,
            code: crate::proto::ErrorCode::TooManySessions,
            message: "server is at its session limit",
        });
        self.last_words(now, &mut session, &err);
    }

    /// Writes `frame` into `session` and queues the one datagram that carries it (and whatever
    /// else KCP had ready), best effort: the session state is about to be dropped.
    fn last_words(&mut self, now: Instant, session: &mut Session, frame: &Frame<'_>) {
        if session.write_frame(frame).is_ok() {
            self.flush_one(now, session);
        }
    }

    /// Queues the session's next datagram, if any, as a reply outside the session table.
    fn flush_one(&mut self, now: Instant, session: &mut Session) {
        let mut buf = vec![0u8; session.max_datagram()];
        if let Some(len) = session.poll_last_transmit(now, &mut buf) {
            self.queue_reply(session.peer(), &buf[..len]);
        }
    }

    /// Runs every timer due at `now`. Safe to call at any time.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.responder.handle_timeout(now);
        self.expire_owner_requests(now);
        self.expire_cut_throughs(now);
        self.expire_parked(now);
        self.advance_shutdown(now);
        while let Some(slot) = self.table.pop_expired(now) {
            let Some(entry) = self.table.get_mut(slot) else {
                continue;
            };
            let connect_overdue = entry.phase == table::Phase::AwaitConnect
                && now >= entry.opened_at + self.config.connect_deadline;
            let held = entry.session.fec_memory();
            let timed_out = entry.session.handle_timeout(now);
            self.fec_memory = self.fec_memory.saturating_sub(held) + entry.session.fec_memory();
            match timed_out {
                Some(reason) => {
                    self.stats.sessions_silent += u64::from(reason == CloseReason::Silence);
                    self.close_slot(now, slot, reason, false);
                }
                None if connect_overdue => self.close_slot(
                    now,
                    slot,
                    CloseReason::ProtocolViolation("no CONNECT before the connect deadline".into()),
                    true,
                ),
                None => self.table.mark_dirty(slot),
            }
        }
    }

    /// The next datagram to send, written into `buf` (at least the KCP MTU + 33 bytes).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        // Datagrams sealed together with an earlier one leave first, in their order.
        let transmit = match self.sealed.pop(buf) {
            Some(transmit) => transmit,
            None => self.seal_next(now, buf)?,
        };
        self.stats.datagrams_out += 1;
        self.stats.wire_bytes_out += transmit.len as u64;
        Some(transmit)
    }

    /// Writes the next reply, or seals the next session datagram together with up to three
    /// more (kept in `self.sealed`).
    fn seal_next(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((destination, bytes)) = self.replies.pop_front() {
            let len = bytes.len().min(buf.len());
            buf[..len].copy_from_slice(&bytes[..len]);
            return Some(Transmit { destination, len });
        }
        let (destination, first) = self.next_untagged(now, buf)?;
        let mut sealed = std::mem::take(&mut self.sealed);
        let max_datagram = self.config.kcp.mtu + crate::crypto::DATA_OVERHEAD;
        let len = sealed.seal(buf, first, max_datagram, |spare| {
            self.next_untagged(now, spare)
        });
        self.sealed = sealed;
        Some(Transmit { destination, len })
    }

    /// The next session datagram, sealed into `buf` but for its tag.
    fn next_untagged(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<(SocketAddr, UntaggedPacket)> {
        while let Some(slot) = self.table.next_dirty() {
            if self.has_pending_output(slot) {
                self.pump(slot);
            }
            let entry = self
                .table
                .get_mut(slot)
                .expect("next_dirty returns live slots");
            match entry.session.poll_transmit_untagged(now, buf) {
                Some(packet) => {
                    let destination = entry.session.peer();
                    self.table.requeue(slot);
                    return Some((destination, packet));
                }
                None => self.table.settle(slot),
            }
        }
        None
    }

    /// When [`Server::handle_timeout`] must be called next; `None` when nothing is pending.
    /// Valid after `poll_transmit` returned `None`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        [
            self.table.next_deadline(),
            self.responder.poll_timeout(),
            self.owner.next_deadline(),
            self.shutdown_deadline(),
            self.cut_through_deadline(),
            self.parked_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ServerEvent> {
        self.events.pop_front()
    }

    fn push_event(&mut self, event: ServerEvent) {
        if self.events.len() >= self.config.max_events {
            self.events.pop_front();
            self.stats.drops.events += 1;
        }
        self.events.push_back(event);
    }

    /// Removes a session and all its subscriptions. With `tell`, a CLOSE frame with the reason
    /// is sent in the session's last datagram.
    fn close_slot(&mut self, now: Instant, slot: SlotId, reason: CloseReason, tell: bool) {
        let Some(mut entry) = self.table.remove(slot) else {
            return;
        };
        let mut fec = entry.session.fec_stats();
        fec.sessions = 0;
        fec.decoder_bytes = 0;
        self.stats.fec += fec;
        self.fec_memory -= entry.session.fec_memory().min(self.fec_memory);
        if tell {
            let message = reason.to_string();
            self.last_words(
                now,
                &mut entry.session,
                &Frame::Close(Close { reason: &message }),
            );
        } else {
            // Send what the stream holds in one last datagram: the acknowledgement of the
            // peer's CLOSE (so it need not wait for its linger time), or the ERR that explains
            // a refusal (duplicate name, unsupported version).
            self.flush_one(now, &mut entry.session);
        }
        self.forget_cut_through(slot, entry.cut_out.take(), entry.cut_in.take());
        for (sid, sub) in &entry.subs {
            if !sub.ended {
                self.index
                    .remove(&sub.filter, sub.queue.as_deref(), sub_key(slot, *sid));
                self.announce_unsub(sub.interest);
            }
            self.discard_pending(sub);
        }
        self.stats.subscriptions -= entry.subs.len() as u64;
        if !entry.name.is_empty() && self.names.get(&entry.name) == Some(&slot) {
            self.names.remove(&entry.name);
            let owner = workers::NameOwner {
                worker: self.cross.index,
                instance: entry.instance,
                session: u64::from_le_bytes(entry.session.session_id().0),
            };
            self.cross.group.names().release(&entry.name, owner);
        }
        if entry.counted {
            self.cross.group.close_session();
        } else {
            self.unpark(slot);
        }
        self.stats.sessions -= 1;
        self.stats.sessions_closed += 1;
        let addr = entry.session.peer();
        self.push_event(ServerEvent::SessionClosed {
            name: entry.name,
            addr,
            reason,
        });
    }
}

impl Server {
    /// The session id of `slot`'s session as a number (0 if there is none).
    fn session_number(&self, slot: SlotId) -> u64 {
        self.table
            .get(slot)
            .map_or(0, |e| u64::from_le_bytes(e.session.session_id().0))
    }
}

impl crate::Drive for Server {
    type Event = ServerEvent;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        Server::handle_datagram(self, now, from, datagram);
    }
    fn handle_datagrams(&mut self, now: Instant, datagrams: &mut [(SocketAddr, &mut [u8])]) {
        Server::handle_datagrams(self, now, datagrams);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Server::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        Server::poll_transmit(self, now, buf)
    }
    fn poll_event(&mut self) -> Option<ServerEvent> {
        Server::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Server::poll_timeout(self)
    }
}
