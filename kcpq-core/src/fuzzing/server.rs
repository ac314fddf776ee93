//! Fuzz entry point for the broker server.
//!
//! [`server_session`] reads its input as a script of operations on one [`Server`] with small
//! limits and four peer addresses: time steps, raw datagrams, real [`Client`]s making API calls,
//! raw sessions (a handshake with the right key, then arbitrary frames or bytes written into the
//! encrypted stream), network loss, duplication, reordering, corruption and address changes,
//! peers that stop reading, and calls of the owner API. Correctly sealed traffic lets the fuzzer
//! reach the frame decoder, routing, the per-subscription queues and the slow-consumer path.
//! After every operation the harness drains everything (the drain contract) and checks the
//! server's invariants.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::Duration;

use crate::Instant;
use crate::client::{Client, ClientConfig, ClientEvent, ReconnectConfig, SubscribeOptions};
use crate::crypto::{
    HandshakeInitiator, HandshakeOutcome, InitiatorConfig, Key, KeySet, ResponderConfig,
};
use crate::fec::{FecConfig, FecMode};
use crate::kcp::KcpConfig;
use crate::proto::{
    Close, Connect, ConnectFlags, ErrFrame, ErrorCode, Frame, Headers, Info, InfoFlags, Msg,
    MsgBegin, PROTOCOL_VERSION, Pub, Sub, SubFlags, Unsub, encode_headers,
};
use crate::queue::{OverflowPolicy, QueueLimits};
use crate::rng::{Rng, Seed};
use crate::server::{CutThroughConfig, Server, ServerConfig, ServerEvent, ServerStats};
use crate::session::Session;
use crate::subject::{IndexConfig, SubjectLimits};

/// Operation codes: the low six bits of an operation byte modulo [`OPS`]; the top two bits pick
/// the peer.
const OP_TIME: u8 = 0;
const OP_RAW: u8 = 1;
const OP_SPAWN: u8 = 2;
const OP_CLIENT: u8 = 3;
const OP_FRAME: u8 = 4;
const OP_NET: u8 = 5;
const OP_SETTLE: u8 = 6;
const OP_OWNER: u8 = 7;
const OP_MUTATE: u8 = 8;
const OPS: u8 = 9;

/// Peers, one per address.
const PEERS: usize = 4;
/// Datagrams held per direction and peer; the oldest is lost beyond it.
const MAX_HELD: usize = 64;
/// Settle rounds per input, so one input cannot run for long.
const MAX_SETTLE_ROUNDS: u32 = 3000;
/// Events a client hands to the harness per drain.
const MAX_CLIENT_EVENTS: usize = 256;
/// Frames a raw session reads per drain.
const MAX_RAW_FRAMES: usize = 256;

const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);

/// Subject tokens: valid ones, wildcards, an empty one, one too long, non-ASCII.
const TOKENS: [&str; 10] = [
    "a",
    "b",
    "c",
    "*",
    ">",
    "",
    "_I",
    "\u{e9}t\u{e9}",
    "a-token-long-enough-to-exceed-the-limit-soon",
    "b c",
];
/// Queue group names, valid and not.
const GROUPS: [&str; 4] = ["g", "h", "", "g.h"];
/// Client names: several clients share some, to reach duplicate names and replacements.
const NAMES: [&str; 4] = ["", "a", "b", "a"];
/// Names the owner targets with `publish_to` and `request`.
const TARGETS: [&str; 5] = ["a", "b", "client-1", "client-2", "nobody"];

fn addr(k: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, 1], 10_000 + k as u16))
}

fn keys(wrong: bool) -> KeySet {
    KeySet::single(Key::from_bytes([if wrong { 0x17 } else { 0x42 }; 32]))
}

fn seed(n: u64, salt: u8) -> Seed {
    let mut s = [salt; 32];
    s[..8].copy_from_slice(&n.to_le_bytes());
    s
}

/// Subject limits of both sides: short, so overlong subjects are easy to produce.
fn subject_limits() -> SubjectLimits {
    SubjectLimits::new(48, 6)
}

/// KCP settings of both sides: a small MTU (frames span segments), small windows and send
/// buffers (queues fill fast), a quick dead link.
fn kcp(send_buffer_limit: usize) -> KcpConfig {
    KcpConfig {
        mtu: 120,
        send_window: 4,
        recv_window: 4,
        dead_link: 6,
        send_buffer_limit,
        ..KcpConfig::fast()
    }
}

/// A server configuration with small bounds; `flags` varies some of them.
fn server_config(flags: u8) -> ServerConfig {
    ServerConfig {
        max_payload: 128,
        max_sessions: 3,
        max_subscriptions_per_session: 3,
        ping_interval: Duration::from_millis(500),
        dead_after: Duration::from_secs(3),
        connect_deadline: Duration::from_secs(1),
        kcp: kcp(1400),
        index: IndexConfig {
            max_subscriptions: 8,
            cache_capacity: 4,
            ..IndexConfig::default()
        }
        .with_limits(subject_limits()),
        responder: ResponderConfig {
            max_half_open: 3,
            max_half_open_per_addr: 2,
            half_open_lifetime: Duration::from_secs(2),
            ..ResponderConfig::default()
        },
        max_events: 4,
        max_pending_replies: 4,
        subscription_queue: QueueLimits {
            max_messages: 1 + usize::from(flags & 3),
            max_bytes: 64,
        },
        max_pending_bytes: if flags & 4 == 0 { 300 } else { 4000 },
        low_watermark: if flags & 8 == 0 { None } else { Some(150) },
        shutdown_linger: Duration::from_millis(300),
        max_requests: 3,
        inbox_prefix: "_I".to_owned(),
        // Payloads of 24 or 64 bytes and more (the limit is 128) go cut-through; stalls are
        // aborted quickly, and few messages may be open at once.
        cut_through: CutThroughConfig {
            min_payload: Some(if flags & 16 == 0 { 64 } else { 24 }),
            stall_timeout: Duration::from_millis(200),
            max_duration: Duration::from_millis(600),
            max_open: 1 + usize::from((flags >> 5) & 1),
        },
        // FEC for clients that offer it: small fixed groups, or adaptive.
        fec: match flags >> 6 {
            1 | 3 => FecConfig::with_mode(FecMode::Fixed { data: 3, parity: 2 }),
            2 => FecConfig::auto(),
            _ => FecConfig::default(),
        },
        ..ServerConfig::default()
    }
}

fn client_config(name: &str, flags: u8) -> ClientConfig {
    ClientConfig {
        name: name.to_owned(),
        no_echo: flags & 0x40 != 0,
        kcp: kcp(4096),
        handshake: InitiatorConfig {
            connect_timeout: Duration::from_secs(2),
            initial_retransmit: Duration::from_millis(100),
            max_retransmit: Duration::from_millis(400),
            ..InitiatorConfig::default()
        },
        reconnect: ReconnectConfig {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            ..ReconnectConfig::default()
        },
        retry_initial_connect: flags & 0x80 != 0,
        ping_interval: Duration::from_millis(700),
        dead_after: Duration::from_secs(3),
        close_linger: Duration::from_millis(200),
        max_outbox_bytes: 1024,
        subscription_limits: QueueLimits {
            max_messages: 2,
            max_bytes: 1024,
        },
        max_pending_requests: 3,
        inbox_prefix: "_I".to_owned(),
        subject_limits: subject_limits(),
        fec: if flags & 0x08 == 0 {
            FecConfig::default()
        } else {
            FecConfig::with_mode(FecMode::Fixed { data: 2, parity: 1 })
        },
        ..ClientConfig::default()
    }
}

/// Reads bytes from the fuzz input; zero once exhausted.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.0.len());
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        head.to_vec()
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[usize::from(self.byte()) % items.len()]
    }

    fn subject(&mut self) -> String {
        let tokens = 1 + usize::from(self.byte() % 4);
        let mut s = String::new();
        for i in 0..tokens {
            if i > 0 {
                s.push('.');
            }
            s.push_str(self.pick(&TOKENS));
        }
        s
    }

    fn group(&mut self) -> Option<&'static str> {
        match self.byte() % 6 {
            0..2 => None,
            n => Some(GROUPS[usize::from(n - 2)]),
        }
    }

    /// An encoded headers block: none, a valid one, or arbitrary bytes.
    fn headers(&mut self) -> Option<Vec<u8>> {
        match self.byte() % 4 {
            0 | 1 => None,
            2 => {
                let mut out = Vec::new();
                encode_headers([("k", "v")], &mut out).expect("a valid header pair");
                Some(out)
            }
            _ => {
                let len = usize::from(self.byte() % 8);
                Some(self.take(len))
            }
        }
    }

    /// A payload length, sometimes above the server's 128-byte limit.
    fn payload_len(&mut self) -> usize {
        usize::from(self.byte() % 192)
    }

    fn timeout(&mut self) -> Duration {
        Duration::from_millis(10 * u64::from(self.byte()))
    }
}

/// A raw peer: the handshake of a real client, then whatever the input writes into the stream.
enum Raw {
    Handshake(Box<HandshakeInitiator>),
    Open(Box<Session>),
    Dead,
}

struct RawPeer {
    state: Raw,
    /// Whether received frames are read (when not, KCP's receive window closes).
    reading: bool,
    /// The CONNECT sent as soon as the session is established, if any.
    connect: Option<(&'static str, u64, u16)>,
}

impl RawPeer {
    fn check_handshake(&mut self, now: Instant) {
        let Raw::Handshake(initiator) = &mut self.state else {
            return;
        };
        match initiator.poll_outcome() {
            Some(HandshakeOutcome::Established(established)) => {
                let mut session = Session::new(
                    *established,
                    kcp(4096),
                    1 << 20,
                    Duration::from_secs(3),
                    &crate::fec::FecConfig::default(),
                    now,
                );
                if let Some((name, instance, version)) = self.connect {
                    let _ = session.write_frame(&Frame::Connect(Connect {
                        req_id: 1,
                        version,
                        flags: ConnectFlags(0),
                        instance,
                        name,
                        // Versions before 2 send none; short intervals end silent peers fast.
                        ping_interval_ms: 500 * u32::from(version),
                    }));
                }
                self.state = Raw::Open(Box::new(session));
            }
            Some(_) => self.state = Raw::Dead,
            None => {}
        }
    }

    fn read(&mut self) {
        let Raw::Open(session) = &mut self.state else {
            return;
        };
        if !self.reading {
            return;
        }
        let mut decoder = session.take_decoder();
        for _ in 0..MAX_RAW_FRAMES {
            if decoder.next_frame().is_none() {
                break;
            }
        }
        session.restore_decoder(decoder);
    }
}

/// A real client and what the harness does with it.
struct ClientPeer {
    client: Client,
    /// While true the application does not take events (client-side queues fill).
    not_reading: bool,
    /// Answers every message with a reply subject.
    responder: bool,
    sids: Vec<u32>,
}

enum Actor {
    Empty,
    Client(Box<ClientPeer>),
    Raw(Box<RawPeer>),
}

impl Actor {
    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        match self {
            Actor::Empty => None,
            Actor::Client(c) => c.client.poll_transmit(now, buf).map(|t| t.len),
            Actor::Raw(r) => match &mut r.state {
                Raw::Handshake(initiator) => initiator.poll_transmit(now, buf).ok().flatten(),
                Raw::Open(session) => session.poll_transmit(now, buf),
                Raw::Dead => None,
            },
        }
    }

    fn handle_datagram(&mut self, now: Instant, datagram: &mut [u8]) {
        match self {
            Actor::Empty => {}
            Actor::Client(c) => c.client.handle_datagram(now, SERVER, datagram),
            Actor::Raw(r) => {
                match &mut r.state {
                    Raw::Handshake(initiator) => initiator.handle_datagram(now, datagram),
                    Raw::Open(session) => {
                        let _ = session.handle_datagram(now, SERVER, datagram, None);
                    }
                    Raw::Dead => {}
                }
                r.check_handshake(now);
            }
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Actor::Empty => None,
            Actor::Client(c) => c.client.poll_timeout(),
            Actor::Raw(r) => match &r.state {
                Raw::Handshake(initiator) => initiator.poll_timeout(),
                Raw::Open(session) => session.poll_timeout(),
                Raw::Dead => None,
            },
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if self.poll_timeout().is_none_or(|t| t > now) {
            return;
        }
        match self {
            Actor::Empty => {}
            Actor::Client(c) => c.client.handle_timeout(now),
            Actor::Raw(r) => {
                match &mut r.state {
                    Raw::Handshake(initiator) => initiator.handle_timeout(now),
                    Raw::Open(session) => {
                        if session.handle_timeout(now).is_some() {
                            r.state = Raw::Dead;
                        }
                    }
                    Raw::Dead => {}
                }
                r.check_handshake(now);
            }
        }
    }
}

struct Peer {
    actor: Actor,
    to_server: VecDeque<Vec<u8>>,
    to_peer: VecDeque<Vec<u8>>,
    /// While true, settling does not deliver the server's datagrams to this peer.
    deaf: bool,
}

fn hold(queue: &mut VecDeque<Vec<u8>>, datagram: &[u8]) {
    if queue.len() >= MAX_HELD {
        queue.pop_front();
    }
    queue.push_back(datagram.to_vec());
}

/// What a run saw, for the final checks and for tests.
#[derive(Debug, Default)]
struct Summary {
    stats: ServerStats,
    opened_events: u64,
    slow_consumer_events: u64,
    owner_messages: u64,
    owner_replies: u64,
    client_messages: u64,
}

struct Harness {
    now: Instant,
    server: Server,
    config: ServerConfig,
    peers: Vec<Peer>,
    buf: Vec<u8>,
    spawned: u64,
    owner_sids: Vec<u32>,
    /// Names of sessions the server reported opened (most recent last).
    names: Vec<String>,
    settle_rounds: u32,
    summary: Summary,
}

impl Harness {
    fn new(flags: u8) -> Harness {
        let config = server_config(flags);
        let now = Instant::from_millis(1000);
        let server = Server::new(config.clone(), &keys(false), seed(0, flags), now)
            .expect("the fuzz configuration is valid");
        Harness {
            now,
            server,
            config,
            peers: (0..PEERS)
                .map(|_| Peer {
                    actor: Actor::Empty,
                    to_server: VecDeque::new(),
                    to_peer: VecDeque::new(),
                    deaf: false,
                })
                .collect(),
            buf: vec![0u8; 65_536],
            spawned: 0,
            owner_sids: Vec::new(),
            names: Vec::new(),
            settle_rounds: 0,
            summary: Summary::default(),
        }
    }

    /// Drains the server and every peer (the drain contract), holding datagrams in flight.
    fn drain(&mut self) {
        while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
            assert!(t.len <= self.buf.len());
            if let Some(k) = (0..PEERS).find(|&k| addr(k) == t.destination) {
                hold(&mut self.peers[k].to_peer, &self.buf[..t.len]);
            }
        }
        while let Some(event) = self.server.poll_event() {
            self.on_server_event(event);
        }
        for peer in &mut self.peers {
            match &mut peer.actor {
                Actor::Client(c) => {
                    for _ in 0..MAX_CLIENT_EVENTS {
                        if c.not_reading {
                            break;
                        }
                        let Some(event) = c.client.poll_event() else {
                            break;
                        };
                        if let ClientEvent::Message(m) = event {
                            self.summary.client_messages += 1;
                            if c.responder
                                && let Some(reply) = m.reply
                            {
                                let _ = c.client.publish(&reply, None, None, b"re");
                            }
                        }
                    }
                }
                Actor::Raw(r) => r.read(),
                Actor::Empty => {}
            }
            while let Some(len) = peer.actor.poll_transmit(self.now, &mut self.buf) {
                hold(&mut peer.to_server, &self.buf[..len]);
            }
        }
    }

    fn on_server_event(&mut self, event: ServerEvent) {
        match event {
            ServerEvent::SessionOpened { name, .. } => {
                self.summary.opened_events += 1;
                if self.names.len() >= 8 {
                    self.names.remove(0);
                }
                self.names.push(name);
            }
            ServerEvent::SlowConsumer { .. } => self.summary.slow_consumer_events += 1,
            ServerEvent::Message(_) => self.summary.owner_messages += 1,
            ServerEvent::Reply(..) => self.summary.owner_replies += 1,
            ServerEvent::ShutdownComplete => {
                assert!(self.server.is_shut_down());
                assert_eq!(self.server.session_count(), 0);
            }
            _ => {}
        }
    }

    /// The server's invariants, checked after every drained operation.
    fn check(&self) {
        let server = &self.server;
        let config = &self.config;
        let stats = server.stats();
        assert_eq!(stats.sessions, server.session_count() as u64);
        assert!(server.session_count() <= config.max_sessions);
        assert!(server.half_open_count() <= config.responder.max_half_open);
        assert!(stats.pending_bytes <= config.max_pending_bytes as u64);
        let sessions = server.sessions();
        assert_eq!(sessions.len(), server.session_count());
        let total: usize = sessions.iter().map(|s| s.subscriptions).sum();
        assert_eq!(stats.subscriptions, total as u64);
        let mut pending = 0;
        for session in &sessions {
            assert!(session.subscriptions <= config.max_subscriptions_per_session);
            if session.name.is_empty() {
                assert_eq!(session.subscriptions, 0, "subscriptions before CONNECT");
                continue;
            }
            let subs = server
                .subscriptions_of(&session.name)
                .expect("a named session is found by its name");
            assert_eq!(subs.len(), session.subscriptions);
            for sub in subs {
                assert!(
                    sub.stats.pending <= config.subscription_queue.max_messages as u64,
                    "subscription {} of {:?} holds {} messages",
                    sub.sid,
                    session.name,
                    sub.stats.pending
                );
                pending += sub.stats.pending as usize;
            }
        }
        if pending == 0 {
            assert_eq!(
                stats.pending_bytes, 0,
                "bytes pending without a queued message"
            );
        }
        if server.is_shut_down() {
            assert_eq!(server.session_count(), 0);
        }
    }

    /// Runs every timer due now (the server's unconditionally: calling early is harmless),
    /// drains, and checks that the server's next deadline is in the future.
    fn timeouts(&mut self, force: bool) {
        if force || self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
            for peer in &mut self.peers {
                peer.actor.handle_timeout(self.now);
            }
            self.drain();
            if let Some(t) = self.server.poll_timeout() {
                assert!(
                    t > self.now,
                    "deadline {t:?} not after handle_timeout({:?}) and a drain",
                    self.now
                );
            }
        } else {
            for peer in &mut self.peers {
                peer.actor.handle_timeout(self.now);
            }
        }
    }

    fn deliver_to_server(&mut self, from: SocketAddr, mut datagram: Vec<u8>) {
        self.server.handle_datagram(self.now, from, &mut datagram);
    }

    fn deliver_to_peer(&mut self, k: usize, mut datagram: Vec<u8>) {
        self.peers[k].actor.handle_datagram(self.now, &mut datagram);
    }

    fn deliver_burst_to_server(&mut self, mut burst: Vec<(SocketAddr, Vec<u8>)>) {
        let mut datagrams: Vec<(SocketAddr, &mut [u8])> = burst
            .iter_mut()
            .map(|(from, d)| (*from, &mut d[..]))
            .collect();
        self.server.handle_datagrams(self.now, &mut datagrams);
    }

    fn deliver_burst_to_peer(&mut self, k: usize, mut burst: Vec<Vec<u8>>) {
        match &mut self.peers[k].actor {
            Actor::Client(c) => {
                let mut datagrams: Vec<(SocketAddr, &mut [u8])> =
                    burst.iter_mut().map(|d| (SERVER, &mut d[..])).collect();
                c.client.handle_datagrams(self.now, &mut datagrams);
            }
            actor => {
                for mut d in burst {
                    actor.handle_datagram(self.now, &mut d);
                }
            }
        }
    }

    fn settle(&mut self, rounds: u32, step: Duration) {
        for _ in 0..rounds {
            if self.settle_rounds >= MAX_SETTLE_ROUNDS {
                return;
            }
            self.settle_rounds += 1;
            // Everything the peers sent reaches the server as one burst of several sessions'
            // datagrams (`handle_datagrams`, which tags them in groups), as a socket's batched
            // receive hands them over; each peer then gets its own burst.
            let mut burst = Vec::new();
            for k in 0..PEERS {
                burst.extend(self.peers[k].to_server.drain(..).map(|d| (addr(k), d)));
            }
            self.deliver_burst_to_server(burst);
            for k in 0..PEERS {
                if !self.peers[k].deaf {
                    let burst: Vec<Vec<u8>> = self.peers[k].to_peer.drain(..).collect();
                    self.deliver_burst_to_peer(k, burst);
                }
            }
            self.drain();
            self.now += step;
            self.timeouts(false);
            self.drain();
            self.check();
        }
    }

    fn spawn(&mut self, k: usize, input: &mut Input<'_>) {
        let flags = input.byte();
        self.spawned += 1;
        let name = NAMES[usize::from(flags >> 1) & 3];
        let keys = keys(flags & 0x10 != 0);
        let peer = &mut self.peers[k];
        peer.to_peer.clear();
        peer.deaf = false;
        peer.actor = if flags & 1 == 0 {
            let client = Client::new(
                client_config(name, flags),
                SERVER,
                &keys,
                seed(self.spawned, 1),
                self.now,
            );
            Actor::Client(Box::new(ClientPeer {
                client,
                not_reading: false,
                responder: flags & 0x20 != 0,
                sids: Vec::new(),
            }))
        } else {
            let mut rng = Rng::from_seed(seed(self.spawned, 2));
            let initiator = HandshakeInitiator::new(
                self.now,
                SERVER,
                &keys,
                &mut rng,
                client_config(name, flags).handshake,
            );
            let extra = input.byte();
            let version = match extra & 12 {
                0 | 4 => PROTOCOL_VERSION,
                8 => crate::proto::MIN_PROTOCOL_VERSION,
                _ => PROTOCOL_VERSION + 1,
            };
            Actor::Raw(Box::new(RawPeer {
                state: Raw::Handshake(Box::new(initiator)),
                reading: flags & 0x20 == 0,
                connect: (flags & 0x40 == 0).then_some((name, u64::from(extra & 3), version)),
            }))
        };
    }

    fn client_op(&mut self, k: usize, input: &mut Input<'_>) {
        let now = self.now;
        let Actor::Client(c) = &mut self.peers[k].actor else {
            return;
        };
        let payload = [0x5au8; 256];
        match input.byte() % 9 {
            0 => {
                let filter = input.subject();
                let flags = input.byte();
                let options = SubscribeOptions {
                    queue_group: input.group().map(str::to_owned),
                    limits: (flags & 2 != 0).then_some(QueueLimits {
                        max_messages: 1 + usize::from(flags >> 6),
                        max_bytes: 4096,
                    }),
                    policy: Some(if flags & 1 == 0 {
                        OverflowPolicy::DropNewest
                    } else {
                        OverflowPolicy::DropOldest
                    }),
                };
                if let Ok(sid) = c.client.subscribe_with(&filter, &options) {
                    c.sids.push(sid);
                }
            }
            1 => {
                let subject = input.subject();
                let reply = (input.byte() & 1 == 1).then(|| input.subject());
                let headers = input.headers();
                let len = input.payload_len();
                let _ = c.client.publish(
                    &subject,
                    reply.as_deref(),
                    headers.as_deref(),
                    &payload[..len],
                );
            }
            2 => {
                let subject = input.subject();
                let headers = input.headers();
                let len = input.payload_len();
                let timeout = input.timeout();
                let _ =
                    c.client
                        .request(now, &subject, headers.as_deref(), &payload[..len], timeout);
            }
            3 => {
                let pick = input.byte();
                let sid = if c.sids.is_empty() || pick & 0x80 != 0 {
                    u32::from(pick & 7)
                } else {
                    c.sids[usize::from(pick) % c.sids.len()]
                };
                let after = match input.byte() % 3 {
                    0 => None,
                    1 => Some(0),
                    n => Some(u64::from(n)),
                };
                let _ = c.client.unsubscribe(sid, after);
            }
            4 => {
                let timeout = input.timeout();
                let _ = c.client.flush(now, timeout);
            }
            5 => {
                let timeout = input.timeout();
                let _ = c.client.drain(now, timeout);
            }
            6 => c.client.close(now),
            7 => c.not_reading = !c.not_reading,
            _ => {
                let subject = input.subject();
                let count = input.byte() % 16;
                let len = input.payload_len();
                for _ in 0..count {
                    let _ = c.client.publish(&subject, None, None, &payload[..len]);
                }
            }
        }
    }

    fn frame_op(&mut self, k: usize, input: &mut Input<'_>) {
        let Actor::Raw(r) = &mut self.peers[k].actor else {
            return;
        };
        let Raw::Open(session) = &mut r.state else {
            return;
        };
        let payload = [0xa5u8; 512];
        let kind = input.byte() % 11;
        let req_id = u32::from(input.byte());
        let _ = match kind {
            0 => {
                let name = input.pick(&NAMES);
                let flags = input.byte();
                session.write_frame(&Frame::Connect(Connect {
                    req_id,
                    version: if flags & 1 == 0 {
                        PROTOCOL_VERSION
                    } else {
                        u16::from(flags)
                    },
                    flags: ConnectFlags(u32::from((flags >> 1) & 1)),
                    instance: u64::from((flags >> 2) & 3),
                    name,
                    ping_interval_ms: u32::from(flags >> 4) * 250,
                }))
            }
            1 => {
                let sid = u32::from(input.byte() % 8);
                let filter = input.subject();
                let queue = input.group();
                let flags = SubFlags(input.byte() & 1);
                session.write_frame(&Frame::Sub(Sub {
                    req_id,
                    sid,
                    filter: &filter,
                    queue,
                    flags,
                }))
            }
            2 => session.write_frame(&Frame::Unsub(Unsub {
                sid: u32::from(input.byte() % 8),
                max_msgs: u64::from(input.byte() % 4),
            })),
            3 | 10 => {
                let subject = input.subject();
                let flags = input.byte();
                let reply = (flags & 1 != 0).then(|| input.subject());
                let raw_headers = input.headers();
                let headers = raw_headers.as_deref().and_then(|h| Headers::parse(h).ok());
                let len = usize::from(input.byte()) * 2;
                let count = if kind == 10 { input.byte() % 16 } else { 1 };
                let frame = Frame::Pub(Pub {
                    subject: &subject,
                    reply: reply.as_deref(),
                    headers,
                    request: flags & 2 != 0,
                    payload: &payload[..len],
                });
                if flags & 4 != 0 {
                    // A publisher that stalls or dies mid-frame: only a prefix of it is sent.
                    let mut bytes = Vec::new();
                    frame.encode(&mut bytes);
                    let cut = bytes.len() * usize::from(input.byte()) / 256;
                    session.write_encoded(&bytes[..cut])
                } else {
                    let mut result = Ok(());
                    for _ in 0..count {
                        result = session.write_frame(&frame);
                    }
                    result
                }
            }
            4 => session.write_frame(&Frame::Ping { req_id }),
            5 => session.write_frame(&Frame::Pong { req_id }),
            6 => session.write_frame(&Frame::Close(Close { reason: "raw" })),
            7 => session.write_frame(&Frame::Msg(Msg {
                sid: req_id,
                subject: "a",
                reply: None,
                headers: None,
                no_responders: false,
                payload: b"m",
            })),
            8 => session.write_frame(&match req_id % 6 {
                0 => Frame::Ok { req_id },
                3 => Frame::MsgBegin(MsgBegin {
                    sid: req_id,
                    subject: "a",
                    reply: None,
                    headers: None,
                    payload_len: req_id,
                }),
                4 => Frame::MsgPart { bytes: b"p" },
                5 => Frame::MsgAbort,
                1 => Frame::Err(ErrFrame {
                    req_id,
                    code: ErrorCode::Protocol,
                    message: "e",
                }),
                _ => Frame::Info(Info {
                    req_id,
                    version: PROTOCOL_VERSION,
                    max_payload: 1,
                    max_subscriptions: 1,
                    ping_interval_ms: 1,
                    server_name: "s",
                    client_name: "c",
                    flags: InfoFlags(0),
                }),
            }),
            _ => {
                let len = usize::from(input.byte());
                let bytes = input.take(len);
                session.write_encoded(&bytes)
            }
        };
    }

    fn net_op(&mut self, k: usize, input: &mut Input<'_>) {
        match input.byte() % 8 {
            0 => {
                while let Some(d) = self.peers[k].to_server.pop_front() {
                    self.deliver_to_server(addr(k), d);
                }
            }
            1 => {
                while let Some(d) = self.peers[k].to_peer.pop_front() {
                    self.deliver_to_peer(k, d);
                }
            }
            2 | 3 => {
                let to_server = input.byte() & 1 == 0;
                let pick = usize::from(input.byte());
                let keep = input.byte() & 1 == 1;
                let queue = if to_server {
                    &mut self.peers[k].to_server
                } else {
                    &mut self.peers[k].to_peer
                };
                if queue.is_empty() {
                    return;
                }
                let i = pick % queue.len();
                let d = if keep {
                    queue[i].clone()
                } else {
                    queue.remove(i).expect("index in range")
                };
                if to_server {
                    self.deliver_to_server(addr(k), d);
                } else {
                    self.deliver_to_peer(k, d);
                }
            }
            4 => {
                self.peers[k].to_server.clear();
                self.peers[k].to_peer.clear();
            }
            5 => self.peers[k].deaf = !self.peers[k].deaf,
            6 => {
                // The peer's address changes (NAT rebinding) or another host replays its
                // datagrams.
                let from = addr((k + 1 + usize::from(input.byte() % 3)) % PEERS);
                while let Some(d) = self.peers[k].to_server.pop_front() {
                    self.deliver_to_server(from, d);
                }
            }
            _ => {
                if let Actor::Raw(r) = &mut self.peers[k].actor {
                    r.reading = !r.reading;
                }
            }
        }
    }

    fn owner_op(&mut self, input: &mut Input<'_>) {
        let payload = [0x3cu8; 256];
        match input.byte() % 8 {
            0 | 7 => {
                let subject = input.subject();
                let reply = (input.byte() & 1 == 1).then(|| input.subject());
                let headers = input.headers();
                let len = input.payload_len();
                let count = if input.byte() & 1 == 0 { 1 } else { 8 };
                for _ in 0..count {
                    let _ = self.server.publish(
                        &subject,
                        reply.as_deref(),
                        headers.as_deref(),
                        &payload[..len],
                    );
                }
            }
            1 => {
                let name = self.target(input);
                let subject = input.subject();
                let headers = input.headers();
                let len = input.payload_len();
                let _ = self.server.publish_to(
                    &name,
                    &subject,
                    None,
                    headers.as_deref(),
                    &payload[..len],
                );
            }
            2 => {
                let filter = input.subject();
                let queue = input.group();
                if let Ok(sid) = self.server.subscribe(&filter, queue) {
                    self.owner_sids.push(sid);
                }
            }
            3 => {
                let pick = input.byte();
                let sid = if self.owner_sids.is_empty() || pick & 0x80 != 0 {
                    u32::from(pick & 7)
                } else {
                    self.owner_sids
                        .remove(usize::from(pick) % self.owner_sids.len())
                };
                let _ = self.server.unsubscribe(sid);
            }
            4 => {
                let name = (input.byte() & 1 == 1).then(|| self.target(input));
                let subject = input.subject();
                let headers = input.headers();
                let len = input.payload_len();
                let timeout = input.timeout();
                let _ = self.server.request(
                    self.now,
                    name.as_deref(),
                    &subject,
                    headers.as_deref(),
                    &payload[..len],
                    timeout,
                );
            }
            5 => self.server.shutdown(self.now, "fuzz"),
            _ => {
                let timeout = input.timeout();
                self.server.drain(self.now, timeout);
            }
        }
    }

    /// A client name for the owner API: one the server reported, or a fixed one.
    fn target(&self, input: &mut Input<'_>) -> String {
        let pick = usize::from(input.byte());
        if pick & 1 == 0 && !self.names.is_empty() {
            self.names[(pick >> 1) % self.names.len()].clone()
        } else {
            TARGETS[(pick >> 1) % TARGETS.len()].to_owned()
        }
    }

    fn step(&mut self, input: &mut Input<'_>) {
        let op = input.byte();
        let k = usize::from(op >> 6);
        match (op & 0x3f) % OPS {
            OP_TIME => {
                self.now += match input.byte() {
                    255 => Duration::from_secs(4),
                    254 => Duration::from_secs(31),
                    ms => Duration::from_millis(u64::from(ms)),
                };
                self.timeouts(true);
            }
            OP_RAW => {
                let len = usize::from(input.byte());
                let datagram = input.take(len);
                self.deliver_to_server(addr(k), datagram);
            }
            OP_SPAWN => self.spawn(k, input),
            OP_CLIENT => self.client_op(k, input),
            OP_FRAME => self.frame_op(k, input),
            OP_NET => self.net_op(k, input),
            OP_SETTLE => {
                let rounds = 1 + u32::from(input.byte() % 64);
                let step = Duration::from_millis(1 + u64::from(input.byte() % 40));
                self.settle(rounds, step);
            }
            OP_OWNER => self.owner_op(input),
            OP_MUTATE => {
                // A held datagram of peer k, corrupted at one byte (or replayed when the mask
                // is zero).
                let pick = usize::from(input.byte());
                let at = usize::from(input.byte());
                let mask = input.byte();
                let held = &self.peers[k].to_server;
                if held.is_empty() {
                    return;
                }
                let mut d = held[pick % held.len()].clone();
                if let Some(b) = d.get_mut(at) {
                    *b ^= mask;
                }
                self.deliver_to_server(addr(k), d);
            }
            _ => unreachable!("operation codes are taken modulo OPS"),
        }
        self.drain();
        self.check();
    }
}

fn run(data: &[u8]) -> Summary {
    let mut input = Input(data);
    let mut harness = Harness::new(input.byte());
    while !input.0.is_empty() {
        harness.step(&mut input);
    }
    let mut summary = harness.summary;
    summary.stats = harness.server.stats();
    summary
}

/// Drives a [`Server`] with the script in `data` (see the module docs) and checks its
/// invariants after every operation: the session and subscription counters agree with the
/// sessions listed, no subscription queue holds more than its bound, pending bytes stay within
/// `max_pending_bytes` (and are zero when nothing is queued), `poll_timeout` is after `now`
/// once `handle_timeout(now)` ran and everything was drained, and a completed shutdown leaves
/// no session.
pub fn server_session(data: &[u8]) {
    let summary = run(data);
    let stats = &summary.stats;
    assert!(summary.opened_events <= stats.sessions_opened);
    assert!(summary.slow_consumer_events <= stats.slow_consumers);
    assert!(stats.sessions_opened <= stats.sessions + stats.sessions_closed);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds scripts for [`run`].
    struct Script(Vec<u8>);

    impl Script {
        fn new(flags: u8) -> Script {
            Script(vec![flags])
        }

        fn op(mut self, op: u8, peer: u8, args: &[u8]) -> Script {
            self.0.push((peer << 6) | op);
            self.0.extend_from_slice(args);
            self
        }

        fn settle(self, rounds: u8) -> Script {
            self.op(OP_SETTLE, 0, &[rounds - 1, 9])
        }
    }

    /// Subject "a" is one token (byte 0 → 1 token) of index 0.
    const SUBJECT_A: [u8; 2] = [0, 0];

    #[test]
    fn accepts_short_and_garbage_input() {
        server_session(&[]);
        server_session(&[0]);
        server_session(&[0, 1, 3, 0xff, 0xfe, 0xfd]);
        server_session(&[7; 300]);
        server_session(&(0..=255u8).cycle().take(2000).collect::<Vec<_>>());
    }

    #[test]
    fn clients_publish_and_a_deaf_subscriber_becomes_a_slow_consumer() {
        // Client 0 ("a", drop-newest) subscribes to "a"; client 1 ("b") publishes bursts while
        // client 0 gets no datagrams.
        let mut script = Script::new(0)
            .op(OP_SPAWN, 0, &[0b0000_0010])
            .op(OP_SPAWN, 1, &[0b0000_0100])
            .settle(40)
            .op(OP_CLIENT, 0, &[0, SUBJECT_A[0], SUBJECT_A[1], 0, 0])
            .settle(20)
            .op(OP_NET, 0, &[5]);
        for _ in 0..6 {
            script = script
                .op(OP_CLIENT, 1, &[8, SUBJECT_A[0], SUBJECT_A[1], 15, 100])
                .settle(10);
        }
        let summary = run(&script.0);
        assert_eq!(summary.stats.sessions_opened, 2, "{summary:?}");
        assert!(summary.stats.msgs_in > 20, "{summary:?}");
        assert!(summary.stats.drops.slow_consumer > 0, "{summary:?}");
        assert!(summary.slow_consumer_events > 0, "{summary:?}");
        server_session(&script.0);
    }

    #[test]
    fn clients_that_offer_fec_use_it_with_a_server_that_wants_it() {
        // Server flags 0x40: FEC 3/2; both clients offer 2/1 (flag 0x08); client 1 publishes
        // to client 0's subscription.
        let mut script = Script::new(0x40)
            .op(OP_SPAWN, 0, &[0b0000_1010])
            .op(OP_SPAWN, 1, &[0b0000_1100])
            .settle(40)
            .op(OP_CLIENT, 0, &[0, SUBJECT_A[0], SUBJECT_A[1], 0, 0])
            .settle(20);
        for _ in 0..4 {
            script = script
                .op(OP_CLIENT, 1, &[8, SUBJECT_A[0], SUBJECT_A[1], 3, 40])
                .settle(10);
        }
        let summary = run(&script.0);
        assert_eq!(summary.stats.fec.sessions, 2, "{summary:?}");
        assert!(summary.stats.fec.parity_sent > 0, "{summary:?}");
        assert!(summary.stats.msgs_in > 0, "{summary:?}");
        server_session(&script.0);
    }

    #[test]
    fn raw_sessions_send_frames_and_the_owner_requests() {
        // A raw session connects as "b" and subscribes to "a" (sid 1) with a responder client
        // "a" on the same subject; the owner requests on "a" and then shuts down.
        let script = Script::new(0b1000)
            .op(OP_SPAWN, 2, &[0b0000_0101, 0])
            .op(OP_SPAWN, 3, &[0b0010_0010])
            .settle(40)
            .op(OP_FRAME, 2, &[1, 7, 1, SUBJECT_A[0], SUBJECT_A[1], 0, 1])
            .op(OP_CLIENT, 3, &[0, SUBJECT_A[0], SUBJECT_A[1], 0, 0])
            .settle(20)
            .op(OP_FRAME, 2, &[3, 0, SUBJECT_A[0], SUBJECT_A[1], 0, 0, 20])
            .op(OP_FRAME, 2, &[4, 9])
            .op(OP_FRAME, 2, &[8, 2])
            .settle(20)
            .op(OP_OWNER, 0, &[4, 0, SUBJECT_A[0], SUBJECT_A[1], 0, 10, 100])
            .settle(30)
            .op(OP_OWNER, 0, &[5])
            .settle(60);
        let summary = run(&script.0);
        assert!(summary.stats.sessions_opened >= 2, "{summary:?}");
        assert!(summary.stats.drops.protocol_violation >= 1, "{summary:?}");
        assert_eq!(summary.owner_replies, 1, "{summary:?}");
        assert_eq!(summary.stats.sessions, 0, "{summary:?}");
        server_session(&script.0);
    }
}
