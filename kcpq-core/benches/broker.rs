//! The whole broker path in memory: a publisher client, the server and K subscriber clients,
//! their datagrams handed from one state machine to the next through one buffer (a perfect
//! network, no sockets). One iteration publishes a burst of messages and pumps until every
//! subscriber has received all of them, so the figure is the CPU cost of the core alone per
//! delivered message: framing, KCP, packet protection, routing and decoding, on both ends.
//!
//! `cargo bench -p kcpq-core --bench broker`

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kcpq_core::Instant;
use kcpq_core::client::{Client, ClientConfig, ClientEvent};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::server::{Server, ServerConfig};

/// Messages published per iteration: a burst, as a publisher running flat out produces.
const BURST: u64 = 1_000;

/// Size of one video frame in the `frame` group.
const FRAME: usize = 100_000;

const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);

fn client_addr(index: usize) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, 1], 10_000 + index as u16))
}

fn seed(label: u8) -> [u8; 32] {
    [label; 32]
}

/// A server and its clients on a perfect network; client 0 publishes, the others subscribe.
struct Broker {
    now: Instant,
    server: Server,
    clients: Vec<Client>,
    buf: Vec<u8>,
    /// Messages each client has received.
    received: Vec<u64>,
    /// Flushes each client saw complete.
    flushed: Vec<u64>,
}

impl Broker {
    fn new(subscribers: usize) -> Broker {
        let keys = KeySet::single(Key::from_bytes([0x42; 32]));
        let now = Instant::ZERO;
        let server =
            Server::new(ServerConfig::default(), &keys, seed(0), now).expect("default config");
        let clients = (0..=subscribers)
            .map(|i| {
                Client::new(
                    ClientConfig::default(),
                    SERVER,
                    &keys,
                    seed(1 + i as u8),
                    now,
                )
            })
            .collect();
        let mut broker = Broker {
            now,
            server,
            clients,
            buf: vec![0; 65_536],
            received: vec![0; subscribers + 1],
            flushed: vec![0; subscribers + 1],
        };
        broker.pump_until(|b| b.clients.iter().all(Client::is_connected));
        for client in &mut broker.clients[1..] {
            client
                .subscribe("bench.subject", None)
                .expect("valid subject");
        }
        // A flush completes once the server has handled everything sent before it, so the
        // subscriptions are in place when it does.
        let now = broker.now;
        for client in &mut broker.clients {
            client
                .flush(now, Duration::from_secs(5))
                .expect("connected client");
        }
        broker.pump_until(|b| b.flushed.iter().all(|&f| f == 1));
        broker
    }

    /// Hands every pending datagram to its destination and collects events until `done`; when
    /// nothing moves, the virtual clock jumps to the earliest timer.
    fn pump_until(&mut self, mut done: impl FnMut(&Broker) -> bool) {
        for _ in 0..1_000_000 {
            if done(self) {
                return;
            }
            let mut moved = false;
            for i in 0..self.clients.len() {
                while let Some(t) = self.clients[i].poll_transmit(self.now, &mut self.buf) {
                    let datagram = &mut self.buf[..t.len];
                    self.server
                        .handle_datagram(self.now, client_addr(i), datagram);
                    moved = true;
                }
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                let to = usize::from(t.destination.port() - 10_000);
                self.clients[to].handle_datagram(self.now, SERVER, &mut self.buf[..t.len]);
                moved = true;
            }
            while self.server.poll_event().is_some() {}
            for (i, client) in self.clients.iter_mut().enumerate() {
                while let Some(event) = client.poll_event() {
                    match event {
                        ClientEvent::Message(message) => {
                            black_box(message);
                            self.received[i] += 1;
                        }
                        ClientEvent::Flushed(_) => self.flushed[i] += 1,
                        _ => {}
                    }
                }
            }
            if !moved {
                // Quiet: jump to the earliest timer (an ACK or a flush coming due).
                let next = self
                    .clients
                    .iter()
                    .filter_map(Client::poll_timeout)
                    .chain(self.server.poll_timeout())
                    .min()
                    .expect("a connected client always has a timer");
                self.now = self.now.max(next);
                self.server.handle_timeout(self.now);
                for client in &mut self.clients {
                    client.handle_timeout(self.now);
                }
            }
        }
        panic!("the broker did not settle");
    }

    /// Publishes `count` copies of `payload` and pumps until every subscriber has them all.
    /// Never inlined, so `valgrind --tool=callgrind --toggle-collect=*Broker::burst*` counts
    /// exactly this.
    #[inline(never)]
    fn burst(&mut self, payload: &[u8], count: u64) {
        let target: Vec<u64> = self.received.iter().map(|r| r + count).collect();
        for _ in 0..count {
            self.clients[0]
                .publish("bench.subject", None, None, payload)
                .expect("the outbox holds a burst");
        }
        self.pump_until(|b| (1..b.clients.len()).all(|i| b.received[i] >= target[i]));
    }
}

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("broker");
    group.throughput(Throughput::Elements(BURST));
    for subscribers in [1usize, 2] {
        for size in [16usize, 128, 1024] {
            let payload = vec![0xa5; size];
            let mut broker = Broker::new(subscribers);
            group.bench_with_input(
                BenchmarkId::new(format!("{subscribers}sub"), size),
                &payload,
                |b, payload| b.iter(|| broker.burst(payload, BURST)),
            );
        }
    }
    group.finish();

    // One video frame at a time (the frames benchmark's 100 000 B to two subscribers): the
    // core's CPU per frame on the whole path, 73 datagrams in and 146 out of the server.
    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Bytes(FRAME as u64));
    let frame = vec![0x5a; FRAME];
    let mut broker = Broker::new(2);
    group.bench_function("2sub/100000", |b| b.iter(|| broker.burst(&frame, 1)));
    group.finish();
}

criterion_group!(group, benches);
criterion_main!(group);
