//! A server and many clients on one simulated network, on a virtual clock.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::client::{Client, ClientConfig, ClientEvent};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::server::{CrossMsg, Server, ServerConfig, ServerEvent, WorkerGroup};

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

/// The address of the `index`th client added to a world.
fn client_addr(index: usize) -> SocketAddr {
    let port = 10_000 + u16::try_from(index % 50_000).expect("below 50 000");
    SocketAddr::from(([10, 0, 1 + (index / 50_000) as u8, 1], port))
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
    /// The server, or its worker 0 when it has several.
    pub server: Server,
    /// The server's other workers (1, 2, ...), each with its own socket on `SERVER`: a
    /// datagram goes to the worker its sender's port hashes to, as SO_REUSEPORT does.
    pub workers: Vec<Server>,
    /// Messages between workers on their way: (due, from, to, message).
    cross: VecDeque<(Instant, usize, usize, CrossMsg)>,
    /// Messages that crossed between workers.
    pub cross_msgs: u64,
    /// How long a message between two workers takes (default 100 µs; the same for all, so
    /// each pair's FIFO order holds).
    pub cross_delay: Duration,
    /// Added to a sender's port before hashing it to a worker: changing it moves every
    /// address to another worker's socket, as a change in the SO_REUSEPORT group does.
    pub worker_shift: usize,
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
            workers: Vec::new(),
            cross: VecDeque::new(),
            cross_msgs: 0,
            cross_delay: Duration::from_micros(100),
            worker_shift: 0,
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

    /// A world whose server has `count` workers.
    pub fn with_workers(seed: u64, link: LinkConfig, config: ServerConfig, count: usize) -> World {
        let mut world = World::new(seed, link, config.clone());
        let group = WorkerGroup::new(
            count,
            seed_for(seed, 500),
            config.max_sessions,
            config.dead_after,
        )
        .expect("valid worker count");
        let mut all = (0..count).map(|i| {
            Server::new_worker(
                config.clone(),
                &keys(),
                seed_for(seed, 600 + i as u64),
                world.now,
                &group,
                i,
            )
            .expect("valid config")
        });
        world.server = all.next().expect("at least one worker");
        world.workers = all.collect();
        world
    }

    /// The server's worker `i` (0: `server`).
    pub fn worker(&self, i: usize) -> &Server {
        if i == 0 {
            &self.server
        } else {
            &self.workers[i - 1]
        }
    }

    /// The server's worker `i`, to call its API (0: `server`).
    pub fn worker_mut(&mut self, i: usize) -> &mut Server {
        if i == 0 {
            &mut self.server
        } else {
            &mut self.workers[i - 1]
        }
    }

    /// How many workers the server has.
    pub fn worker_count(&self) -> usize {
        1 + self.workers.len()
    }

    /// The worker whose socket a datagram from `from` reaches.
    pub fn worker_for(&self, from: SocketAddr) -> usize {
        (usize::from(from.port()) + self.worker_shift) % self.worker_count()
    }

    /// Client `i` now sends from another port (a NAT rebinding): its datagrams may reach
    /// another worker's socket.
    pub fn rebind(&mut self, i: usize, port: u16) {
        self.by_addr.remove(&self.peers[i].addr);
        self.peers[i].addr.set_port(port);
        self.by_addr.insert(self.peers[i].addr, i);
    }

    /// The sum of a counter over all workers.
    pub fn sum(&self, counter: impl Fn(&kcpq_core::server::ServerStats) -> u64) -> u64 {
        (0..self.worker_count())
            .map(|i| counter(&self.worker(i).stats()))
            .sum()
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

    /// Replaces every worker of the server by a fresh one with no state, `count` of them in a
    /// new [`WorkerGroup`], at the same address (a restart of the whole server, perhaps with
    /// another worker count). What was crossing between the old workers is lost with them.
    pub fn restart_workers(&mut self, config: ServerConfig, count: usize, generation: u64) {
        let base = 2_000_000 + generation * 1_000;
        let group = WorkerGroup::new(
            count,
            seed_for(self.seed, base),
            config.max_sessions,
            config.dead_after,
        )
        .expect("valid worker count");
        let now = self.now;
        let mut all = (0..count).map(|i| {
            Server::new_worker(
                config.clone(),
                &keys(),
                seed_for(self.seed, base + 1 + i as u64),
                now,
                &group,
                i,
            )
            .expect("valid config")
        });
        self.server = all.next().expect("at least one worker");
        self.workers = all.collect();
        self.cross.clear();
    }

    /// The address the next client added will send from.
    pub fn next_client_addr(&self) -> SocketAddr {
        client_addr(self.peers.len())
    }

    /// Adds a client that starts connecting now; returns its index.
    pub fn add_client(&mut self, config: ClientConfig) -> usize {
        self.add_client_with_keys(config, &keys())
    }

    /// Adds a client with its own key set.
    pub fn add_client_with_keys(&mut self, config: ClientConfig, keys: &KeySet) -> usize {
        let index = self.peers.len();
        let addr = client_addr(index);
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
        for w in 0..self.worker_count() {
            let now = self.now;
            let mut buf = std::mem::take(&mut self.buf);
            while let Some(t) = self.worker_mut(w).poll_transmit(now, &mut buf) {
                self.server_wire_bytes.1 += t.len as u64;
                self.net.send(now, SERVER, t.destination, &buf[..t.len]);
            }
            self.buf = buf;
            while let Some(e) = self.worker_mut(w).poll_event() {
                self.server_events.push(e);
            }
            while let Some((to, msg)) = self.worker_mut(w).poll_cross() {
                self.cross.push_back((now + self.cross_delay, w, to, msg));
            }
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
        let workers = (0..self.worker_count()).filter_map(|w| self.worker(w).poll_timeout());
        [
            self.net.next_delivery(),
            self.client_timers.first().map(|(at, _)| *at),
            self.cross.front().map(|c| c.0),
        ]
        .into_iter()
        .flatten()
        .chain(workers)
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
                let w = self.worker_for(d.from);
                let now = self.now;
                self.worker_mut(w).handle_datagram(now, d.from, &mut d.data);
            } else if let Some(&i) = self.by_addr.get(&d.to) {
                self.peers[i]
                    .client
                    .handle_datagram(self.now, d.from, &mut d.data);
                touched.insert(i);
            }
        }
        while self.cross.front().is_some_and(|c| c.0 <= self.now) {
            let (_, from, to, msg) = self.cross.pop_front().expect("checked above");
            self.cross_msgs += 1;
            let now = self.now;
            self.worker_mut(to).handle_cross(now, from, msg);
        }
        for w in 0..self.worker_count() {
            let now = self.now;
            if self.worker(w).poll_timeout().is_some_and(|t| t <= now) {
                self.server_wakeups += 1;
                self.worker_mut(w).handle_timeout(now);
            }
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
