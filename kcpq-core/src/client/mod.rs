//! The broker client as a sans-IO state machine.
//!
//! [`Client`] performs the handshake, opens the broker session with CONNECT, and then publishes,
//! subscribes, requests and flushes. Every API call only changes state and queues output; results
//! arrive as [`ClientEvent`]s. It is driven as described in the crate docs (the drain contract).

mod config;
mod events;
mod frames;
mod outbox;

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use crate::Instant;
use crate::crypto::{HandshakeInitiator, HandshakeOutcome, KeySet, OpenDrop};
use crate::proto::{Close, Connect, ConnectFlags, Frame, PROTOCOL_VERSION, Pub, Sub, Unsub};
use crate::rng::{Rng, Seed};
use crate::session::{CloseReason, Received, Session};
use crate::subject::{validate_filter, validate_queue_group, validate_subject};

pub use config::{
    ClientConfig, DEFAULT_INBOX_PREFIX, DEFAULT_MAX_INBOUND_BYTES, DEFAULT_MAX_INBOUND_MESSAGES,
    DEFAULT_MAX_OUTBOX_BYTES, DEFAULT_MAX_PENDING_REQUESTS,
};
pub use events::{
    ClientEvent, FlushError, FlushId, Message, PublishError, RequestFailure, RequestId,
    ServerError, Sid, SubscribeError, UnsubscribeError,
};

use outbox::Outbox;

pub use crate::server::Transmit;

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
    /// CLOSE sent; waiting until it is acknowledged or the linger time ends.
    Closing(Box<Session>, Instant),
    /// Done.
    Closed,
}

/// One subscription as the client knows it.
#[derive(Debug)]
struct ClientSub {
    /// The SUB's request id while the server has not confirmed it.
    pending: Option<u32>,
    /// Messages still to receive before it ends (UNSUB with a count).
    remaining: Option<u64>,
    /// Whether the last message for it was dropped (reported once per burst).
    slow: bool,
}

/// Counters of a client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// Messages received for subscriptions (replies included).
    pub msgs_in: u64,
    /// Messages published (requests included).
    pub msgs_out: u64,
    /// Messages dropped because the inbound queue was full.
    pub dropped_slow_consumer: u64,
    /// Messages for a subscription or request this client no longer has.
    pub dropped_unknown: u64,
    /// Datagrams from an address other than the server's.
    pub dropped_foreign: u64,
    /// Datagrams that failed packet protection.
    pub dropped_unauthenticated: u64,
    /// Events dropped because [`MAX_CONTROL_EVENTS`] were waiting.
    pub dropped_events: u64,
}

/// The KCPQ client, as a pure state machine.
#[derive(Debug)]
pub struct Client {
    config: ClientConfig,
    server: SocketAddr,
    conn: Conn,
    next_req_id: u32,
    next_sid: Sid,
    next_request: u64,
    subs: BTreeMap<Sid, ClientSub>,
    /// SUB request id -> subscription.
    sub_requests: BTreeMap<u32, Sid>,
    inbox: String,
    inbox_subscribed: bool,
    requests: BTreeMap<u64, Instant>,
    request_deadlines: BTreeSet<(Instant, u64)>,
    flushes: BTreeMap<u32, Instant>,
    flush_deadlines: BTreeSet<(Instant, u32)>,
    outbox: Outbox,
    events: VecDeque<ClientEvent>,
    inbound_messages: usize,
    inbound_bytes: usize,
    next_ping: Option<Instant>,
    connect_req_id: u32,
    max_payload: usize,
    stats: ClientStats,
}

impl Client {
    /// A client that starts connecting to `server` at once with the primary key of `keys`;
    /// randomness is expanded from `seed`.
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
        let initiator =
            HandshakeInitiator::new(now, server, keys, &mut rng, config.handshake.clone());
        Client {
            outbox: Outbox::new(config.max_outbox_bytes),
            max_payload: crate::server::DEFAULT_MAX_PAYLOAD,
            config,
            server,
            conn: Conn::Handshake(Box::new(initiator)),
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
            inbound_messages: 0,
            inbound_bytes: 0,
            next_ping: None,
            connect_req_id: 0,
            stats: ClientStats::default(),
        }
    }

    /// Counters.
    pub fn stats(&self) -> &ClientStats {
        &self.stats
    }

    /// Whether the session is ready for traffic.
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

    /// The session's smoothed round-trip time, once established.
    pub fn rtt(&self) -> Option<Duration> {
        self.session().map(|s| s.kcp().srtt())
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

    /// Queues a frame: into the stream at once when ready and nothing waits, else the outbox.
    fn send(&mut self, frame: &Frame<'_>) -> bool {
        if let Conn::Ready(session) = &mut self.conn
            && self.outbox.is_empty()
            && session.write_frame(frame).is_ok()
        {
            return true;
        }
        self.outbox.push(frame)
    }

    fn check_open(&self) -> bool {
        !matches!(self.conn, Conn::Closed | Conn::Closing(..))
    }

    /// Subscribes to `filter` (optionally in queue group `queue`). The server's answer arrives as
    /// [`ClientEvent::Subscribed`] or [`ClientEvent::SubscribeFailed`]; messages may arrive as soon
    /// as the server has processed the SUB.
    pub fn subscribe(&mut self, filter: &str, queue: Option<&str>) -> Result<Sid, SubscribeError> {
        if !self.check_open() {
            return Err(SubscribeError::Closed);
        }
        validate_filter(filter, &self.config.subject_limits)?;
        if let Some(q) = queue {
            validate_queue_group(q, &self.config.subject_limits)?;
        }
        let sid = self.next_sid;
        let req_id = self.take_req_id();
        if !self.send(&Frame::Sub(Sub {
            req_id,
            sid,
            filter,
            queue,
        })) {
            return Err(SubscribeError::BufferFull);
        }
        self.next_sid += 1;
        self.subs.insert(
            sid,
            ClientSub {
                pending: Some(req_id),
                remaining: None,
                slow: false,
            },
        );
        self.sub_requests.insert(req_id, sid);
        Ok(sid)
    }

    /// Unsubscribes now (`after == None`) or after `after` more messages.
    pub fn unsubscribe(&mut self, sid: Sid, after: Option<u64>) -> Result<(), UnsubscribeError> {
        if !self.check_open() {
            return Err(UnsubscribeError::Closed);
        }
        if !self.subs.contains_key(&sid) {
            return Err(UnsubscribeError::UnknownSubscription(sid));
        }
        let max_msgs = after.unwrap_or(0);
        if !self.send(&Frame::Unsub(Unsub { sid, max_msgs })) {
            return Err(UnsubscribeError::BufferFull);
        }
        match after {
            Some(n) if n > 0 => {
                if let Some(sub) = self.subs.get_mut(&sid) {
                    sub.remaining = Some(n);
                }
            }
            _ => {
                self.subs.remove(&sid);
            }
        }
        Ok(())
    }

    fn check_publish(
        &self,
        subject: &str,
        reply: Option<&str>,
        headers: Option<&[u8]>,
        payload: &[u8],
    ) -> Result<(), PublishError> {
        if !self.check_open() {
            return Err(PublishError::Closed);
        }
        validate_subject(subject, &self.config.subject_limits)?;
        if let Some(r) = reply {
            validate_subject(r, &self.config.subject_limits)?;
        }
        let size = payload.len() + headers.map_or(0, <[u8]>::len);
        if size > self.max_payload {
            return Err(PublishError::PayloadTooLarge {
                size,
                max: self.max_payload,
            });
        }
        Ok(())
    }

    /// Publishes `payload` on `subject`, with an optional reply subject and headers (an encoded
    /// block, see [`crate::proto::encode_headers`]). Never acknowledged; use
    /// [`Client::flush`] for a round trip.
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
        if !self.inbox_subscribed {
            let filter = format!("{}.*", self.inbox);
            let req_id = self.take_req_id();
            let sub = Frame::Sub(Sub {
                req_id,
                sid: INBOX_SID,
                filter: &filter,
                queue: None,
            });
            if !self.send(&sub) {
                return Err(PublishError::BufferFull {
                    max: self.outbox.max_bytes(),
                });
            }
            self.inbox_subscribed = true;
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

    /// Asks the server for a round trip: [`ClientEvent::Flushed`] arrives once the server has
    /// processed everything sent before, or [`ClientEvent::FlushFailed`] after `timeout`.
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

    /// Closes the session: sends CLOSE, waits up to `close_linger` for it to be acknowledged,
    /// then reports [`ClientEvent::Disconnected`] with [`CloseReason::Local`].
    pub fn close(&mut self, now: Instant) {
        match std::mem::replace(&mut self.conn, Conn::Closed) {
            Conn::Ready(mut session) | Conn::AwaitInfo(mut session) => {
                self.outbox.drain_into(&mut session);
                let _ = session.write_frame(&Frame::Close(Close {
                    reason: "client closed",
                }));
                self.conn = Conn::Closing(session, now + self.config.close_linger);
            }
            Conn::Closing(session, until) => self.conn = Conn::Closing(session, until),
            Conn::Handshake(_) => self.finish(CloseReason::Local),
            Conn::Closed => {}
        }
    }

    /// Ends the session: fails what waits on it and reports why.
    fn finish(&mut self, reason: CloseReason) {
        self.conn = Conn::Closed;
        self.outbox.clear();
        self.next_ping = None;
        for (id, _) in std::mem::take(&mut self.requests) {
            self.push_event(ClientEvent::RequestFailed(
                RequestId(id),
                RequestFailure::Disconnected,
            ));
        }
        self.request_deadlines.clear();
        for (id, _) in std::mem::take(&mut self.flushes) {
            self.push_event(ClientEvent::FlushFailed(FlushId(id)));
        }
        self.flush_deadlines.clear();
        self.push_event(ClientEvent::Disconnected(reason));
    }

    /// Queues an event other than a received message. Messages have their own bounds; these
    /// are bounded too, because a server can send ERR frames at will: beyond
    /// [`MAX_CONTROL_EVENTS`] waiting events the newest is dropped and counted.
    fn push_event(&mut self, event: ClientEvent) {
        if self.events.len() - self.inbound_messages >= MAX_CONTROL_EVENTS {
            self.stats.dropped_events += 1;
            return;
        }
        self.events.push_back(event);
    }

    /// Handles one datagram from `from`, decrypted in place.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, datagram: &mut [u8]) {
        if from != self.server {
            self.stats.dropped_foreign += 1;
            return;
        }
        match &mut self.conn {
            Conn::Handshake(initiator) => {
                initiator.handle_datagram(now, datagram);
                self.check_handshake(now);
            }
            Conn::AwaitInfo(session) | Conn::Ready(session) | Conn::Closing(session, _) => {
                match session.handle_datagram(now, from, datagram) {
                    Received::Accepted => self.process_frames(now),
                    Received::Dropped(OpenDrop::NotData)
                        if session.is_stateless_reset(datagram) =>
                    {
                        // While closing, the server forgetting the session is the goal reached.
                        let closing = matches!(self.conn, Conn::Closing(..));
                        self.finish(if closing {
                            CloseReason::Local
                        } else {
                            CloseReason::StatelessReset
                        });
                    }
                    Received::Dropped(_) => self.stats.dropped_unauthenticated += 1,
                }
            }
            Conn::Closed => {}
        }
    }

    fn check_handshake(&mut self, now: Instant) {
        let Conn::Handshake(initiator) = &mut self.conn else {
            return;
        };
        match initiator.poll_outcome() {
            Some(HandshakeOutcome::Established(established)) => {
                let max_frame = crate::proto::max_frame_len(
                    self.max_payload.max(crate::server::DEFAULT_MAX_PAYLOAD),
                    self.config.subject_limits.max_len,
                );
                let mut session = Session::new(
                    *established,
                    self.config.kcp.clone(),
                    max_frame.max(64 * 1024 * 1024),
                    self.config.dead_after,
                    now,
                );
                let req_id = self.take_req_id();
                self.connect_req_id = req_id;
                let flags = ConnectFlags(if self.config.no_echo {
                    ConnectFlags::NO_ECHO
                } else {
                    0
                });
                let connect = Frame::Connect(Connect {
                    req_id,
                    version: PROTOCOL_VERSION,
                    flags,
                    name: &self.config.name,
                });
                let _ = session.write_frame(&connect);
                self.conn = Conn::AwaitInfo(Box::new(session));
            }
            Some(HandshakeOutcome::Failed(error)) => {
                self.push_event(ClientEvent::ConnectFailed(error));
                self.finish(CloseReason::Local);
            }
            None => {}
        }
    }

    /// Runs every timer due at `now`. Safe to call at any time.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.conn {
            Conn::Handshake(initiator) => {
                initiator.handle_timeout(now);
                self.check_handshake(now);
            }
            Conn::AwaitInfo(session) | Conn::Ready(session) => {
                if let Some(reason) = session.handle_timeout(now) {
                    self.finish(reason);
                }
            }
            Conn::Closing(session, until) => {
                let until = *until;
                let dead = session.handle_timeout(now);
                if dead.is_some() || now >= until || session.is_flushed() {
                    self.finish(CloseReason::Local);
                }
            }
            Conn::Closed => {}
        }
        self.expire_requests(now);
        if let Some(at) = self.next_ping
            && now >= at
        {
            let req_id = self.take_req_id();
            let _ = self.send(&Frame::Ping { req_id });
            self.next_ping = Some(now + self.config.ping_interval);
        }
    }

    fn expire_requests(&mut self, now: Instant) {
        while let Some(&(at, id)) = self.request_deadlines.first() {
            if at > now {
                break;
            }
            self.request_deadlines.pop_first();
            if self.requests.remove(&id).is_some() {
                self.push_event(ClientEvent::RequestFailed(
                    RequestId(id),
                    RequestFailure::TimedOut,
                ));
            }
        }
        while let Some(&(at, id)) = self.flush_deadlines.first() {
            if at > now {
                break;
            }
            self.flush_deadlines.pop_first();
            if self.flushes.remove(&id).is_some() {
                self.push_event(ClientEvent::FlushFailed(FlushId(id)));
            }
        }
    }

    /// The next datagram to send, written into `buf` (at least the KCP MTU + 33 bytes).
    #[must_use]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let destination = self.server;
        let len = match &mut self.conn {
            Conn::Handshake(initiator) => initiator.poll_transmit(now, buf).ok().flatten(),
            Conn::Ready(session) => {
                self.outbox.drain_into(session);
                session.poll_transmit(now, buf)
            }
            Conn::AwaitInfo(session) | Conn::Closing(session, _) => session.poll_transmit(now, buf),
            Conn::Closed => None,
        }?;
        Some(Transmit { destination, len })
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
            Conn::Closed => None,
        };
        [
            conn,
            self.next_ping,
            self.request_deadlines.first().map(|(t, _)| *t),
            self.flush_deadlines.first().map(|(t, _)| *t),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        let event = self.events.pop_front()?;
        if let ClientEvent::Message(m) | ClientEvent::Reply(_, m) = &event {
            self.inbound_messages -= 1;
            self.inbound_bytes -= m.payload.len();
        }
        Some(event)
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
