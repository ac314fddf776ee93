//! A server and many clients on one simulated network, on a virtual clock.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::client::{Client, ClientConfig, ClientEvent};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::server::{Server, ServerConfig, ServerEvent};

use super::net::{LinkConfig, SimNet};

/// The server's address in every world.
pub const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);

/// The pre-shared key of every world (tests that need a wrong key make their own).
pub fn keys() -> KeySet {
    KeySet::single(Key::from_bytes([0x42; 32]))
}

/// A 32-byte seed derived from a test seed and a label.
pub fn seed_for(seed: u64, label: u64) -> [u8; 32] {
    let mut out = [0u8; 32];
    out[..8].copy_from_slice(&seed.to_le_bytes());
    out[8..16].copy_from_slice(&label.to_le_bytes());
    out
}

/// One client, its address and everything it reported.
pub struct Peer {
    pub addr: SocketAddr,
    pub client: Client,
    pub events: Vec<ClientEvent>,
    /// While true the application "does not read": events stay in the client.
    pub not_reading: bool,
}

/// The world.
pub struct World {
    pub seed: u64,
    pub now: Instant,
    pub net: SimNet,
    pub server: Server,
    pub server_events: Vec<ServerEvent>,
    pub peers: Vec<Peer>,
    buf: Vec<u8>,
    pub steps: u64,
    /// Calls of `server.handle_timeout` (its wake-ups).
    pub server_wakeups: u64,
    /// Bytes of the datagrams handed to the server, and of those it sent.
    pub server_wire_bytes: (u64, u64),
    /// Client address -> index in `peers`.
    by_addr: HashMap<SocketAddr, usize>,
    /// Client deadlines, so a step touches only the clients that have work.
    client_timers: BTreeSet<(Instant, usize)>,
    armed: Vec<Option<Instant>>,
}

impl World {
    /// A world with a server and no clients yet.
    pub fn new(seed: u64, link: LinkConfig, config: ServerConfig) -> World {
        let now = Instant::ZERO;
        World {
            seed,
            now,
            net: SimNet::new(seed, link),
            server: Server::new(config, &keys(), seed_for(seed, 0), now).expect("valid config"),
            server_events: Vec::new(),
            peers: Vec::new(),
            buf: vec![0u8; 65_536],
            steps: 0,
            server_wakeups: 0,
            server_wire_bytes: (0, 0),
            by_addr: HashMap::new(),
            client_timers: BTreeSet::new(),
            armed: Vec::new(),
        }
    }

    /// Replaces the server by a new one with no state, at the same address (a restart).
    pub fn restart_server(&mut self, config: ServerConfig, generation: u64) {
        self.server = Server::new(
            config,
            &keys(),
            seed_for(self.seed, 1_000_000 + generation),
            self.now,
        )
        .expect("valid config");
    }

    /// Adds a client that starts connecting now; returns its index.
    pub fn add_client(&mut self, config: ClientConfig) -> usize {
        self.add_client_with_keys(config, &keys())
    }

    /// Adds a client with its own key set.
    pub fn add_client_with_keys(&mut self, config: ClientConfig, keys: &KeySet) -> usize {
        let index = self.peers.len();
        let port = 10_000 + u16::try_from(index % 50_000).expect("below 50 000");
        let addr = SocketAddr::from(([10, 0, 1 + (index / 50_000) as u8, 1], port));
        let seed = seed_for(self.seed, 1 + index as u64);
        let client = Client::new(config, SERVER, keys, seed, self.now);
        self.by_addr.insert(addr, index);
        self.peers.push(Peer {
            addr,
            client,
            events: Vec::new(),
            not_reading: false,
        });
        self.drain_server();
        self.drain_peer(index);
        index
    }

    /// Client `i`'s process ends at once (SIGKILL, power loss): it is never driven again and
    /// datagrams to its address are lost. What it sent before is still in the network.
    pub fn vanish(&mut self, i: usize) {
        self.by_addr.remove(&self.peers[i].addr);
        if let Some(at) = self.armed.get_mut(i).and_then(Option::take) {
            self.client_timers.remove(&(at, i));
        }
    }

    /// Sends everything every state machine has to send, and collects events. Call it after
    /// API calls on any client.
    pub fn drain(&mut self) {
        self.drain_server();
        for i in 0..self.peers.len() {
            self.drain_peer(i);
        }
    }

    fn drain_server(&mut self) {
        while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
            self.server_wire_bytes.1 += t.len as u64;
            self.net
                .send(self.now, SERVER, t.destination, &self.buf[..t.len]);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
    }

    /// Drains one client and re-arms its timer.
    fn drain_peer(&mut self, i: usize) {
        let peer = &mut self.peers[i];
        while let Some(t) = peer.client.poll_transmit(self.now, &mut self.buf) {
            self.net
                .send(self.now, peer.addr, t.destination, &self.buf[..t.len]);
        }
        while !peer.not_reading
            && let Some(e) = peer.client.poll_event()
        {
            peer.events.push(e);
        }
        let next = peer.client.poll_timeout();
        if self.armed.len() <= i {
            self.armed.resize(i + 1, None);
        }
        if self.armed[i] != next {
            if let Some(at) = self.armed[i] {
                self.client_timers.remove(&(at, i));
            }
            if let Some(at) = next {
                self.client_timers.insert((at, i));
            }
            self.armed[i] = next;
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        [
            self.net.next_delivery(),
            self.server.poll_timeout(),
            self.client_timers.first().map(|(at, _)| *at),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Advances to the next event (a delivery or a timer), handles everything due, drains what
    /// was touched. Returns false when nothing at all is pending or `limit` would be passed.
    pub fn step(&mut self, limit: Instant) -> bool {
        let Some(next) = self.next_wakeup() else {
            return false;
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        self.steps += 1;
        let mut touched = BTreeSet::new();
        while let Some(mut d) = self.net.deliver_due(self.now) {
            if d.to == SERVER {
                self.server_wire_bytes.0 += d.data.len() as u64;
                self.server.handle_datagram(self.now, d.from, &mut d.data);
            } else if let Some(&i) = self.by_addr.get(&d.to) {
                self.peers[i]
                    .client
                    .handle_datagram(self.now, d.from, &mut d.data);
                touched.insert(i);
            }
        }
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server_wakeups += 1;
            self.server.handle_timeout(self.now);
        }
        while let Some(&(at, i)) = self.client_timers.first() {
            if at > self.now {
                break;
            }
            self.client_timers.pop_first();
            self.armed[i] = None;
            self.peers[i].client.handle_timeout(self.now);
            touched.insert(i);
        }
        self.drain_server();
        for i in touched {
            self.drain_peer(i);
        }
        true
    }

    /// Steps until `done` holds, panicking with the seed if `within` virtual time passes first.
    pub fn run_until(&mut self, within: Duration, mut done: impl FnMut(&World) -> bool) {
        let limit = self.now + within;
        while !done(self) {
            assert!(
                self.step(limit),
                "seed {}: condition not reached within {within:?} (now {:?})",
                self.seed,
                self.now
            );
            assert!(self.steps < 50_000_000, "seed {}: step limit", self.seed);
        }
    }

    /// Steps for `duration` of virtual time.
    pub fn run_for(&mut self, duration: Duration) {
        let limit = self.now + duration;
        while self.step(limit) {}
        self.now = limit;
    }

    /// Whether client `i` has reported `Connected`.
    pub fn connected(&self, i: usize) -> bool {
        self.peers[i]
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Connected { .. }))
    }
}
