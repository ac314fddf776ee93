//! The broker client as a sans-IO state machine.
//!
//! [`Client`] performs the handshake, opens the broker session with CONNECT, and then publishes,
//! subscribes, requests and flushes. When the session dies (dead link, silence, a stateless reset
//! from a restarted server, or CLOSE from a server shutting down) it reconnects by itself with
//! jittered exponential backoff, sends every subscription again, then the publishes buffered
//! meanwhile. Every API call only changes state and queues output; results arrive as
//! [`ClientEvent`]s. It is driven as described in the crate docs (the drain contract).
//!
//! Received messages wait in one bounded queue per subscription (see [`crate::queue`]), with the
//! subscription's overflow policy; `poll_event` hands them out in arrival order.

mod check;
mod config;
mod events;
mod frames;
mod lifecycle;
mod outbox;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::Instant;
use crate::crypto::{HandshakeInitiator, KeySet};
use crate::proto::{Frame, Pub, Sub, SubFlags, Unsub};
use crate::queue::{BoundedQueue, OverflowPolicy};
use crate::rng::{Rng, Seed};
use crate::session::{SealBatch, Session};
use crate::subject::{Subject, validate_filter, validate_queue_group};

pub use crate::message::{Message, RequestFailure, RequestId, Sid};
pub use check::check_publish;
pub use config::{
    ClientConfig, DEFAULT_INBOX_PREFIX, DEFAULT_MAX_OUTBOX_BYTES, DEFAULT_MAX_PENDING_REQUESTS,
    ReconnectConfig,
};
pub use events::{
    ClientEvent, DrainError, FlushError, FlushId, PublishError, ServerError, SubscribeError,
    SubscribeOptions, UnsubscribeError,
};

use outbox::Outbox;

pub use crate::drive::Transmit;

/// Most events other than received messages waiting for `poll_event` (see `push_event`).
pub const MAX_CONTROL_EVENTS: usize = 65_536;

/// The subscription id reserved for the inbox that receives replies.
const INBOX_SID: Sid = u32::MAX;

/// Where the client is in its life.
#[derive(Debug)]
enum Conn {
    /// Handshaking with the server.
    Handshake(Box<HandshakeInitiator>),
    /// Session established, CONNECT sent, waiting for INFO.
    AwaitInfo(Box<Session>),
    /// Ready for traffic.
    Ready(Box<Session>),
    /// Waiting until the next connection attempt.
    Backoff(Instant),
    /// CLOSE sent; waiting until it is acknowledged or the linger time ends.
    Closing(Box<Session>, Instant),
    /// Done.
    Closed,
}

/// One subscription as the client knows it.
#[derive(Debug)]
struct ClientSub {
    filter: String,
    queue_group: Option<String>,
    flags: SubFlags,
    /// The SUB's request id while the current session has not confirmed it.
    pending: Option<u32>,
    /// Whether `Subscribed` was reported (it is reported once, not after every reconnect).
    confirmed: bool,
    /// Messages received on it since it started (across reconnects).
    received: u64,
    /// Messages still to receive before it ends (UNSUB with a count).
    remaining: Option<u64>,
    /// No more messages will come (count reached or drained); removed once its queue is empty.
    ended: bool,
    /// Received messages waiting for `poll_event`.
    messages: BoundedQueue<Message>,
    /// The subject of the last message received on it, shared with the next one if that has
    /// the same subject (one allocation per subject change, not per message).
    last_subject: Option<Subject>,
}

/// An entry of the event queue: an event, or "the next message of this subscription".
#[derive(Debug)]
enum Pending {
    Event(ClientEvent),
    Message(Sid),
}

/// A drain in progress: subscriptions are gone from the server once the PONG to `ping` arrives.
#[derive(Debug, Clone, Copy)]
struct Drain {
    ping: u32,
    deadline: Instant,
}

/// Counters of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Messages received for subscriptions (replies included).
    pub msgs_in: u64,
    /// Messages published (requests included).
    pub msgs_out: u64,
    /// Messages dropped because a subscription's queue was full.
    pub dropped_slow_consumer: u64,
    /// Messages for a subscription or request this client no longer has.
    pub dropped_unknown: u64,
    /// Datagrams from an address other than the server's.
    pub dropped_foreign: u64,
    /// Datagrams that failed packet protection.
    pub dropped_unauthenticated: u64,
    /// Events dropped because [`MAX_CONTROL_EVENTS`] were waiting.
    pub dropped_events: u64,
    /// Sessions established after a disconnect.
    pub reconnects: u64,
    /// Connection attempts that failed.
    pub failed_attempts: u64,
    /// Bytes of every datagram received from the server, as UDP payloads.
    pub wire_bytes_in: u64,
    /// Bytes of every datagram sent, as UDP payloads: handshakes, ACKs and retransmissions
    /// included.
    pub wire_bytes_out: u64,
    /// Cut-through messages the server abandoned mid-way (MSG_ABORT: their publisher stalled
    /// or left); a message that still completed at the server came again whole.
    pub msgs_aborted: u64,
    /// What forward error correction did, over all sessions (`sessions`: 1 while the current
    /// one uses it).
    pub fec: crate::fec::FecStats,
}

/// The KCPQ client, as a pure state machine.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    server: SocketAddr,
    keys: KeySet,
    rng: Rng,
    conn: Conn,
    /// Random token sent in CONNECT, the same across reconnects (see the protocol spec).
    instance: u64,
    /// The name to connect with: the configured one, or the one the server assigned first.
    name: String,
    ever_connected: bool,
    /// Failed attempts since the last successful connect.
    attempts: u32,
    next_req_id: u32,
    next_sid: Sid,
    next_request: u64,
    subs: BTreeMap<Sid, ClientSub>,
    /// SUB request id -> subscription.
    sub_requests: BTreeMap<u32, Sid>,
    inbox: String,
    /// Whether the inbox subscription was sent in the current session.
    inbox_subscribed: bool,
    requests: BTreeMap<u64, Instant>,
    request_deadlines: BTreeSet<(Instant, u64)>,
    flushes: BTreeMap<u32, Instant>,
    flush_deadlines: BTreeSet<(Instant, u32)>,
    outbox: Outbox,
    events: VecDeque<Pending>,
    control_events: usize,
    next_ping: Option<Instant>,
    connect_req_id: u32,
    max_payload: usize,
    /// The message arriving cut-through now (version 3), if any.
    open_message: Option<Box<frames::OpenMessage>>,
    drain: Option<Drain>,
    /// The last datagram of a session the server closed (it acknowledges the server's CLOSE,
    /// so a server shutting down need not wait for its linger time); sent before anything not
    /// yet sealed.
    farewell: Option<Vec<u8>>,
    /// Session datagrams sealed with the one `poll_transmit` handed out, their tags computed
    /// together; the next calls hand them out first. At most `kcpq_mac::BATCH - 1`.
    sealed: SealBatch,
    /// The last subject a publish passed the subject check with.
    last_valid_subject: check::LastValidSubject,
    stats: ClientStats,
}

impl Client {
    /// A client that starts connecting to `server` at once with the primary key of `keys`;
    /// randomness (handshake, inbox, backoff jitter) is expanded from `seed`.
    pub fn new(
        config: ClientConfig,
        server: SocketAddr,
        keys: &KeySet,
        seed: Seed,
        now: Instant,
    ) -> Client {
        let mut rng = Rng::from_seed(seed);
        let token: [u8; 12] = rng.bytes();
        let inbox = format!("{}.{}", config.inbox_prefix, hex_token(&token));
        let instance = rng.next_u64();
        let initiator =
            HandshakeInitiator::new(now, server, keys, &mut rng, config.handshake.clone());
        Client {
            outbox: Outbox::new(config.max_outbox_bytes),
            max_payload: crate::proto::DEFAULT_MAX_PAYLOAD,
            open_message: None,
            name: config.name.clone(),
            config,
            server,
            keys: keys.clone(),
            rng,
            conn: Conn::Handshake(Box::new(initiator)),
            instance,
            ever_connected: false,
            attempts: 0,
            next_req_id: 1,
            next_sid: 1,
            next_request: 1,
            subs: BTreeMap::new(),
            sub_requests: BTreeMap::new(),
            inbox,
            inbox_subscribed: false,
            requests: BTreeMap::new(),
            request_deadlines: BTreeSet::new(),
            flushes: BTreeMap::new(),
            flush_deadlines: BTreeSet::new(),
            events: VecDeque::new(),
            control_events: 0,
            next_ping: None,
            connect_req_id: 0,
            drain: None,
            farewell: None,
            sealed: SealBatch::default(),
            last_valid_subject: check::LastValidSubject::default(),
            stats: ClientStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Whether a session is ready for traffic.
    pub fn is_connected(&self) -> bool {
        matches!(self.conn, Conn::Ready(_))
    }

    /// Whether the client is closed for good.
    pub fn is_closed(&self) -> bool {
        matches!(self.conn, Conn::Closed)
    }

    /// The server's payload limit (from INFO; 1 MiB until then).
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The inbox subject prefix replies to this client's requests use.
    pub fn inbox(&self) -> &str {
        &self.inbox
    }

    /// The name the server knows this client by (empty until the first connect when the
    /// configuration left it to the server).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The session's smoothed round-trip time, while a session exists.
    pub fn rtt(&self) -> Option<Duration> {
        self.session().map(|s| s.kcp().srtt())
    }

    /// Messages waiting in subscription `sid`'s queue.
    pub fn pending_messages(&self, sid: Sid) -> Option<usize> {
        self.subs.get(&sid).map(|s| s.messages.len())
    }

    fn session(&self) -> Option<&Session> {
        match &self.conn {
            Conn::AwaitInfo(s) | Conn::Ready(s) | Conn::Closing(s, _) => Some(s),
            _ => None,
        }
    }

    fn session_mut(&mut self) -> Option<&mut Session> {
        match &mut self.conn {
            Conn::AwaitInfo(s) | Conn::Ready(s) | Conn::Closing(s, _) => Some(s),
            _ => None,
        }
    }

    fn take_req_id(&mut self) -> u32 {
        let id = self.next_req_id;
        self.next_req_id = self.next_req_id.checked_add(1).unwrap_or(1);
        id
    }

    /// Queues a publish (or a flush's PING): into the stream at once when ready and nothing
    /// waits, else the outbox (which survives reconnects). `false` when the outbox is full.
    fn send(&mut self, frame: &Frame<'_>) -> bool {
        if let Conn::Ready(session) = &mut self.conn
            && self.outbox.is_empty()
            && session.write_frame(frame).is_ok()
        {
            return true;
        }
        self.outbox.push(frame)
    }

    /// Sends a control frame (SUB, UNSUB, PONG) into the current session, ahead of waiting
    /// publishes. Without a ready session it is not sent: subscriptions are restored when the
    /// next session is ready. KCP refuses only when its whole send buffer is full; the frame
    /// then waits in the outbox (which drops control frames at a disconnect, when the restore
    /// sends them again).
    fn send_control(&mut self, frame: &Frame<'_>) {
        if let Conn::Ready(session) = &mut self.conn
            && session.write_frame(frame).is_err()
        {
            let _ = self.outbox.push(frame);
        }
    }

    fn check_open(&self) -> bool {
        !matches!(self.conn, Conn::Closed | Conn::Closing(..)) && self.drain.is_none()
    }

    /// Subscribes to `filter` (optionally in queue group `queue`) with the default queue bound
    /// and policy. See [`Client::subscribe_with`].
    pub fn subscribe(&mut self, filter: &str, queue: Option<&str>) -> Result<Sid, SubscribeError> {
        let options = SubscribeOptions {
            queue_group: queue.map(str::to_owned),
            ..SubscribeOptions::default()
        };
        self.subscribe_with(filter, &options)
    }

    /// Subscribes to `filter`. The server's answer arrives as [`ClientEvent::Subscribed`] or
    /// [`ClientEvent::SubscribeFailed`]; messages may arrive as soon as the server has processed
    /// the SUB. Made while disconnected, the SUB is sent when the next session is ready.
    pub fn subscribe_with(
        &mut self,
        filter: &str,
        options: &SubscribeOptions,
    ) -> Result<Sid, SubscribeError> {
        if !self.check_open() {
            return Err(SubscribeError::Closed);
        }
        validate_filter(filter, &self.config.subject_limits)?;
        if let Some(q) = &options.queue_group {
            validate_queue_group(q, &self.config.subject_limits)?;
        }
        if self.next_sid == INBOX_SID {
            return Err(SubscribeError::TooManySubscriptions);
        }
        let sid = self.next_sid;
        self.next_sid += 1;
        let policy = options.policy.unwrap_or(self.config.subscription_policy);
        let limits = options.limits.unwrap_or(self.config.subscription_limits);
        let flags = SubFlags(match policy {
            OverflowPolicy::DropOldest => SubFlags::DROP_OLDEST,
            OverflowPolicy::DropNewest => 0,
        });
        self.subs.insert(
            sid,
            ClientSub {
                filter: filter.to_owned(),
                queue_group: options.queue_group.clone(),
                flags,
                pending: None,
                confirmed: false,
                received: 0,
                remaining: None,
                ended: false,
                messages: BoundedQueue::new(limits, policy),
                last_subject: None,
            },
        );
        if self.is_connected() {
            self.send_sub(sid);
        }
        Ok(sid)
    }

    /// Writes the SUB of `sid` (and its pending UNSUB count) into the current session.
    fn send_sub(&mut self, sid: Sid) {
        let req_id = self.take_req_id();
        let Some(sub) = self.subs.get_mut(&sid) else {
            return;
        };
        sub.pending = Some(req_id);
        let (filter, queue, flags, remaining) = (
            sub.filter.clone(),
            sub.queue_group.clone(),
            sub.flags,
            sub.remaining,
        );
        self.sub_requests.insert(req_id, sid);
        self.send_control(&Frame::Sub(Sub {
            req_id,
            sid,
            filter: &filter,
            queue: queue.as_deref(),
            flags,
        }));
        if let Some(n) = remaining {
            self.send_control(&Frame::Unsub(Unsub { sid, max_msgs: n }));
        }
    }

    /// Unsubscribes now (`after == None` or `Some(0)`; messages still queued for it are
    /// discarded), or once it has received `n` messages in total since it started (`Some(n)`),
    /// as NATS's auto-unsubscribe: the server is told how many are left, and the client ends the
    /// subscription itself at `n`, so messages already on their way are dropped. When `n` were
    /// already received it ends at once, keeping what is queued.
    pub fn unsubscribe(&mut self, sid: Sid, after: Option<u64>) -> Result<(), UnsubscribeError> {
        if matches!(self.conn, Conn::Closed) {
            return Err(UnsubscribeError::Closed);
        }
        let Some(sub) = self.subs.get_mut(&sid) else {
            return Err(UnsubscribeError::UnknownSubscription(sid));
        };
        if sub.ended && after.is_some_and(|n| n > 0) {
            // Its count was already reached: the server has forgotten it.
            return Ok(());
        }
        let left = match after {
            Some(n) if n > 0 => n.saturating_sub(sub.received),
            _ => {
                if self.is_connected() {
                    self.send_control(&Frame::Unsub(Unsub { sid, max_msgs: 0 }));
                }
                self.remove_sub(sid);
                return Ok(());
            }
        };
        sub.remaining = Some(left);
        let reached = left == 0 && !sub.ended;
        if reached {
            sub.ended = true;
        }
        let remove = sub.ended && sub.messages.is_empty();
        if self.is_connected() {
            self.send_control(&Frame::Unsub(Unsub {
                sid,
                max_msgs: left,
            }));
        }
        if reached {
            self.push_event(ClientEvent::Unsubscribed(sid));
        }
        if remove {
            self.subs.remove(&sid);
        }
        Ok(())
    }

    /// Forgets a subscription and its queued messages.
    fn remove_sub(&mut self, sid: Sid) {
        if self.subs.remove(&sid).is_some() {
            self.events
                .retain(|p| !matches!(p, Pending::Message(s) if *s == sid));
        }
    }

    fn check_publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), PublishError> {
        if !self.check_open() {
            return Err(PublishError::Closed);
        }
        let limits = &self.config.subject_limits;
        self.last_valid_subject.check(subject, limits)?;
        check::check_reply_and_size(limits, self.max_payload, reply, headers, payload.len())
    }

    /// Publishes `payload` on `subject`, with an optional reply subject and headers (an encoded
    /// block, see [`crate::proto::encode_headers`]). Never acknowledged; use
    /// [`Client::flush`] for a round trip. While disconnected it waits in the bounded outbox
    /// and is sent after the reconnect.
    pub fn publish(
        &mut self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), PublishError> {
        self.check_publish(subject, reply, headers, payload)?;
        let headers = headers.map(crate::proto::Headers::parse).transpose()?;
        let frame = Frame::Pub(Pub {
            subject,
            reply,
            headers,
            request: false,
            payload,
        });
        if !self.send(&frame) {
            return Err(PublishError::BufferFull {
                max: self.outbox.max_bytes(),
            });
        }
        self.stats.msgs_out += 1;
        Ok(())
    }

    /// Sends a request and waits (in events) for one reply: [`ClientEvent::Reply`], or
    /// [`ClientEvent::RequestFailed`] with no responders (at once), a timeout, or a disconnect.
    pub fn request(
        &mut self,
        now: Instant,
        subject: &str,
        headers: Option<&[u8]>,
        payload: &[u8],
        timeout: Duration,
    ) -> Result<RequestId, PublishError> {
        if self.requests.len() >= self.config.max_pending_requests {
            return Err(PublishError::TooManyRequests {
                max: self.config.max_pending_requests,
            });
        }
        let id = self.next_request;
        let reply = format!("{}.{id}", self.inbox);
        self.check_publish(subject, Some(&reply), headers, payload)?;
        let headers = headers.map(crate::proto::Headers::parse).transpose()?;
        if self.is_connected() && !self.inbox_subscribed {
            self.send_inbox_sub();
        }
        let frame = Frame::Pub(Pub {
            subject,
            reply: Some(&reply),
            headers,
            request: true,
            payload,
        });
        if !self.send(&frame) {
            return Err(PublishError::BufferFull {
                max: self.outbox.max_bytes(),
            });
        }
        self.next_request += 1;
        self.stats.msgs_out += 1;
        let deadline = now + timeout;
        self.requests.insert(id, deadline);
        self.request_deadlines.insert((deadline, id));
        Ok(RequestId(id))
    }

    /// Subscribes the inbox wildcard in the current session (its OK is not reported).
    fn send_inbox_sub(&mut self) {
        let filter = format!("{}.*", self.inbox);
        let req_id = self.take_req_id();
        self.send_control(&Frame::Sub(Sub {
            req_id,
            sid: INBOX_SID,
            filter: &filter,
            queue: None,
            flags: SubFlags::default(),
        }));
        self.inbox_subscribed = true;
    }

    /// Asks the server for a round trip: [`ClientEvent::Flushed`] arrives once the server has
    /// processed everything sent before, or [`ClientEvent::FlushFailed`] after `timeout` or at a
    /// disconnect.
    pub fn flush(&mut self, now: Instant, timeout: Duration) -> Result<FlushId, FlushError> {
        if !self.check_open() {
            return Err(FlushError::Closed);
        }
        let req_id = self.take_req_id();
        if !self.send(&Frame::Ping { req_id }) {
            return Err(FlushError::BufferFull);
        }
        let deadline = now + timeout;
        self.flushes.insert(req_id, deadline);
        self.flush_deadlines.insert((deadline, req_id));
        Ok(FlushId(req_id))
    }

    /// When [`Client::handle_timeout`] must be called next; `None` when nothing is pending.
    /// Valid after `poll_transmit` returned `None`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let conn = match &self.conn {
            Conn::Handshake(initiator) => initiator.poll_timeout(),
            Conn::AwaitInfo(session) | Conn::Ready(session) => session.poll_timeout(),
            Conn::Closing(session, until) => {
                Some(session.poll_timeout().map_or(*until, |t| t.min(*until)))
            }
            Conn::Backoff(until) => Some(*until),
            Conn::Closed => None,
        };
        [
            conn,
            self.next_ping,
            self.request_deadlines.first().map(|(t, _)| *t),
            self.flush_deadlines.first().map(|(t, _)| *t),
            self.drain.map(|d| d.deadline),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next datagram to send, written into `buf` (at least the KCP MTU + 33 bytes).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let destination = self.server;
        // Datagrams sealed together with an earlier one leave first, in their order.
        if let Some(transmit) = self.sealed.pop(buf) {
            self.stats.wire_bytes_out += transmit.len as u64;
            return Some(transmit);
        }
        if let Some(farewell) = self.farewell.take() {
            let len = farewell.len().min(buf.len());
            buf[..len].copy_from_slice(&farewell[..len]);
            self.stats.wire_bytes_out += len as u64;
            return Some(Transmit { destination, len });
        }
        self.sync_fec_stats();
        let len = match &mut self.conn {
            Conn::Handshake(initiator) => initiator.poll_transmit(now, buf).ok().flatten(),
            Conn::Ready(session) => {
                let outbox = &mut self.outbox;
                outbox.drain_into(session);
                let first = session.poll_transmit_untagged(now, buf)?;
                let max_datagram = session.max_datagram();
                Some(self.sealed.seal(buf, first, max_datagram, |spare| {
                    outbox.drain_into(session);
                    let packet = session.poll_transmit_untagged(now, spare)?;
                    Some((destination, packet))
                }))
            }
            Conn::AwaitInfo(session) | Conn::Closing(session, _) => session.poll_transmit(now, buf),
            Conn::Backoff(_) | Conn::Closed => None,
        }?;
        self.stats.wire_bytes_out += len as u64;
        Some(Transmit { destination, len })
    }

    /// Adds what the session's FEC did since the last call to the counters. Called before a
    /// session is dropped and at every `poll_transmit` (which the drain contract calls after
    /// every input).
    pub(super) fn sync_fec_stats(&mut self) {
        let Some(session) = self.session_mut() else {
            self.stats.fec.sessions = 0;
            self.stats.fec.decoder_bytes = 0;
            return;
        };
        let delta = session.take_fec_stats();
        let (using, held) = (delta.sessions, delta.decoder_bytes);
        self.stats.fec += delta;
        self.stats.fec.sessions = using;
        self.stats.fec.decoder_bytes = held;
    }

    /// Queues an event other than a received message. They are bounded too, because a server
    /// can send ERR frames at will: beyond [`MAX_CONTROL_EVENTS`] waiting events the newest is
    /// dropped and counted.
    fn push_event(&mut self, event: ClientEvent) {
        if self.control_events >= MAX_CONTROL_EVENTS {
            self.stats.dropped_events += 1;
            return;
        }
        self.control_events += 1;
        self.events.push_back(Pending::Event(event));
    }

    /// The next event, if any. Received messages come out in the order they arrived.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        loop {
            match self.events.pop_front()? {
                Pending::Event(event) => {
                    self.control_events -= 1;
                    return Some(event);
                }
                Pending::Message(sid) => {
                    let Some(sub) = self.subs.get_mut(&sid) else {
                        continue;
                    };
                    let Some(message) = sub.messages.pop() else {
                        continue;
                    };
                    if sub.ended && sub.messages.is_empty() {
                        self.subs.remove(&sid);
                    }
                    return Some(ClientEvent::Message(message));
                }
            }
        }
    }
}

fn hex_token(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

impl crate::Drive for Client {
    type Event = ClientEvent;
    fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        Client::handle_datagram(self, now, from, datagram);
    }
    fn handle_datagrams(&mut self, now: Instant, datagrams: &mut [(SocketAddr, &mut [u8])]) {
        Client::handle_datagrams(self, now, datagrams);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Client::handle_timeout(self, now);
    }
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        Client::poll_transmit(self, now, buf)
    }
    fn poll_event(&mut self) -> Option<ClientEvent> {
        Client::poll_event(self)
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Client::poll_timeout(self)
    }
}
