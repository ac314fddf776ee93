//! Crossing between workers allocates nothing per message once warm: a publisher on one worker
//! and a subscriber on another cost the server no more heap allocations per message than the
//! same two clients on a server of one worker (counted by a wrapping global allocator, only
//! inside the servers' calls and the way between them, the lanes every adapter uses).

use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::adapter::{CrossIn, CrossOut, Doorbell, cross_lanes};
use kcpq_core::client::{Client, ClientConfig, ClientEvent};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::server::{Server, ServerConfig, WorkerGroup};

mod alloc_count;

use alloc_count::{Counting, charged, charged_if_due};

#[global_allocator]
static GLOBAL: Counting = Counting;

const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);

/// A server of `workers` workers and two clients on a perfect, instant network; the clients'
/// ports put the publisher on worker 0 and the subscriber on the last worker.
struct Rig {
    now: Instant,
    workers: Vec<Server>,
    clients: Vec<(SocketAddr, Client)>,
    /// Each worker's ends of the way between workers (their doorbells ring nothing: the rig
    /// takes every inbox on every round).
    lanes: Vec<(CrossOut, CrossIn)>,
    buf: Vec<u8>,
    received: usize,
}

impl Rig {
    fn new(workers: usize) -> Rig {
        let keys = KeySet::single(Key::from_bytes([0x42; 32]));
        let config = ServerConfig::default();
        let group = WorkerGroup::new(workers, [9; 32], config.max_sessions, config.dead_after)
            .expect("a valid count");
        let now = Instant::ZERO;
        let servers = (0..workers)
            .map(|i| {
                let seed = [i as u8 + 1; 32];
                Server::new_worker(config.clone(), &keys, seed, now, &group, i).expect("valid")
            })
            .collect();
        let clients = [0, workers - 1]
            .iter()
            .enumerate()
            .map(|(n, &worker)| {
                let port = u16::try_from(20_000 + worker).expect("small") + 100 * n as u16;
                let addr =
                    SocketAddr::from(([10, 0, 1, 1], port - port % workers as u16 + worker as u16));
                let mut config = ClientConfig::default();
                config.name = format!("c{n}");
                (
                    addr,
                    Client::new(config, SERVER, &keys, [n as u8 + 50; 32], now),
                )
            })
            .collect();
        Rig {
            now,
            workers: servers,
            clients,
            lanes: match workers {
                1 => Vec::new(),
                _ => cross_lanes((0..workers).map(|_| Box::new(|| {}) as Doorbell).collect()),
            },
            buf: vec![0; 65_536],
            received: 0,
        }
    }

    fn worker_for(&self, addr: SocketAddr) -> usize {
        usize::from(addr.port()) % self.workers.len()
    }

    /// Moves everything every machine has to send until nothing is left, counting only what
    /// the servers do. Returns the servers' allocations.
    fn settle(&mut self) -> usize {
        let before = alloc_count::allocations();
        loop {
            let mut moved = false;
            for c in 0..self.clients.len() {
                while let Some(t) = self.clients[c].1.poll_transmit(self.now, &mut self.buf) {
                    moved = true;
                    let from = self.clients[c].0;
                    let w = self.worker_for(from);
                    let (now, datagram) = (self.now, &mut self.buf[..t.len]);
                    let server = &mut self.workers[w];
                    charged(|| server.handle_datagram(now, from, datagram));
                }
                while let Some(event) = self.clients[c].1.poll_event() {
                    if matches!(event, ClientEvent::Message(_)) {
                        self.received += 1;
                    }
                }
            }
            for w in 0..self.workers.len() {
                loop {
                    let (now, buf) = (self.now, &mut self.buf);
                    let server = &mut self.workers[w];
                    let Some(t) = charged(|| server.poll_transmit(now, buf)) else {
                        break;
                    };
                    moved = true;
                    let to = t.destination;
                    if let Some((_, client)) = self.clients.iter_mut().find(|(a, _)| *a == to) {
                        client.handle_datagram(self.now, SERVER, &mut self.buf[..t.len]);
                    }
                }
                let server = &mut self.workers[w];
                while charged(|| server.poll_event()).is_some() {}
                while let Some((to, msg)) = charged(|| server.poll_cross()) {
                    let out = &mut self.lanes[w].0;
                    charged(|| out.send(to, msg));
                }
            }
            for (w, (_, inbox)) in self.lanes.iter().enumerate() {
                let (now, server) = (self.now, &mut self.workers[w]);
                moved |=
                    charged(|| inbox.drain(|from, msg| server.handle_cross(now, from, msg))) > 0;
            }
            if !moved {
                break;
            }
        }
        alloc_count::allocations() - before
    }

    /// Advances the clock by `step`, runs every timer due, and settles.
    fn tick(&mut self, step: Duration) -> usize {
        self.now += step;
        let now = self.now;
        for (_, client) in &mut self.clients {
            if client.poll_timeout().is_some_and(|t| t <= now) {
                client.handle_timeout(now);
            }
        }
        let mut allocations = 0;
        for server in &mut self.workers {
            allocations +=
                charged_if_due(server.poll_timeout(), now, || server.handle_timeout(now));
        }
        allocations + self.settle()
    }

    /// Publishes `count` messages, one batch of 10 per millisecond; returns the servers'
    /// allocations.
    fn publish(&mut self, count: usize) -> usize {
        let mut allocations = 0;
        for i in 0..count {
            let payload = (i as u64).to_le_bytes();
            self.clients[0]
                .1
                .publish("feed", None, None, &payload)
                .expect("publish");
            if i % 10 == 9 {
                allocations += self.tick(Duration::from_millis(1));
            }
        }
        allocations + self.tick(Duration::from_millis(1))
    }
}

/// Allocations per message over `measured` messages after `warm` warm-up messages.
fn allocations_per_message(workers: usize, warm: usize, measured: usize) -> f64 {
    let mut rig = Rig::new(workers);
    for _ in 0..2000 {
        rig.tick(Duration::from_millis(1));
        if rig.clients.iter().all(|(_, c)| c.is_connected()) {
            break;
        }
    }
    assert!(
        rig.clients.iter().all(|(_, c)| c.is_connected()),
        "connected"
    );
    if workers > 1 {
        let sessions: Vec<usize> = rig.workers.iter().map(Server::session_count).collect();
        assert_eq!(sessions[0], 1, "publisher on worker 0: {sessions:?}");
        assert_eq!(
            sessions[workers - 1],
            1,
            "subscriber on the last: {sessions:?}"
        );
    }
    rig.clients[1].1.subscribe("feed", None).expect("subscribe");
    for _ in 0..100 {
        rig.tick(Duration::from_millis(1));
    }
    rig.publish(warm);
    for _ in 0..100 {
        rig.tick(Duration::from_millis(1));
    }
    let received = rig.received;
    let allocations = rig.publish(measured);
    for _ in 0..50 {
        rig.tick(Duration::from_millis(1));
    }
    assert_eq!(rig.received - received, measured, "every message arrived");
    allocations as f64 / measured as f64
}

#[test]
fn crossing_to_another_worker_adds_no_allocation_per_message() {
    let alone = allocations_per_message(1, 3000, 5000);
    let crossing = allocations_per_message(2, 3000, 5000);
    assert!(
        crossing <= alone + 0.01,
        "two workers: {crossing:.3} allocations per message, one worker: {alone:.3}"
    );
}
