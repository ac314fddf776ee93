//! A server and many clients on one simulated network, on a virtual clock.

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
        }
    }

    /// Adds a client that starts connecting now; returns its index.
    pub fn add_client(&mut self, config: ClientConfig) -> usize {
        self.add_client_with_keys(config, &keys())
    }

    /// Adds a client with its own key set.
    pub fn add_client_with_keys(&mut self, config: ClientConfig, keys: &KeySet) -> usize {
        let index = self.peers.len();
        let port = 10_000 + u16::try_from(index).expect("fewer than 55 000 clients");
        let addr = SocketAddr::from(([10, 0, 1, 1], port));
        let seed = seed_for(self.seed, 1 + index as u64);
        let client = Client::new(config, SERVER, keys, seed, self.now);
        self.peers.push(Peer {
            addr,
            client,
            events: Vec::new(),
            not_reading: false,
        });
        self.drain();
        index
    }

    /// Sends everything every state machine has to send, and collects events.
    pub fn drain(&mut self) {
        while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
            self.net
                .send(self.now, SERVER, t.destination, &self.buf[..t.len]);
        }
        while let Some(e) = self.server.poll_event() {
            self.server_events.push(e);
        }
        for peer in &mut self.peers {
            while let Some(t) = peer.client.poll_transmit(self.now, &mut self.buf) {
                self.net
                    .send(self.now, peer.addr, t.destination, &self.buf[..t.len]);
            }
            while !peer.not_reading
                && let Some(e) = peer.client.poll_event()
            {
                peer.events.push(e);
            }
        }
    }

    fn next_wakeup(&self) -> Option<Instant> {
        let mut next = [self.net.next_delivery(), self.server.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        for peer in &self.peers {
            if let Some(t) = peer.client.poll_timeout() {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        }
        next
    }

    /// Advances to the next event (a delivery or a timer), handles everything due, drains.
    /// Returns false when nothing at all is pending or `limit` would be passed.
    pub fn step(&mut self, limit: Instant) -> bool {
        let Some(next) = self.next_wakeup() else {
            return false;
        };
        if next > limit {
            return false;
        }
        self.now = self.now.max(next);
        self.steps += 1;
        while let Some(mut d) = self.net.deliver_due(self.now) {
            if d.to == SERVER {
                self.server.handle_datagram(self.now, d.from, &mut d.data);
            } else if let Some(peer) = self.peers.iter_mut().find(|p| p.addr == d.to) {
                peer.client.handle_datagram(self.now, d.from, &mut d.data);
            }
        }
        if self.server.poll_timeout().is_some_and(|t| t <= self.now) {
            self.server.handle_timeout(self.now);
        }
        for peer in &mut self.peers {
            if peer.client.poll_timeout().is_some_and(|t| t <= self.now) {
                peer.client.handle_timeout(self.now);
            }
        }
        self.drain();
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
