//! Datagrams handed over in bursts (`handle_datagrams`, which computes the tags of up to
//! sixteen packets at once) change nothing against the same datagrams handed over one by one:
//! the same seeds and the same input give byte-identical output from the server and the same
//! messages at the subscribers, with publishers and subscribers of several sessions in every
//! burst, whichever engine computes the tags.

use std::net::SocketAddr;

use kcpq_core::Instant;
use kcpq_core::client::{Client, ClientConfig, ClientEvent};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::server::{Server, ServerConfig};
use kcpq_mac::Engine;

const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);
const CLIENTS: usize = 5;

fn client_addr(i: usize) -> SocketAddr {
    SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 1)),
        10_000 + u16::try_from(i).expect("a few clients"),
    )
}

/// A server and its clients on a perfect network; `bursts` says how datagrams are handed over.
struct Broker {
    now: Instant,
    server: Server,
    clients: Vec<Client>,
    bursts: bool,
    /// Every datagram the server sent, in order.
    server_sent: Vec<Vec<u8>>,
    /// Every message each client received: (subject, payload).
    received: Vec<Vec<(String, Vec<u8>)>>,
}

impl Broker {
    fn connected(bursts: bool) -> Broker {
        let keys = KeySet::single(Key::from_bytes([9; 32]));
        let now = Instant::ZERO;
        let clients = (0..CLIENTS)
            .map(|i| {
                let seed = [20 + u8::try_from(i).expect("a few clients"); 32];
                Client::new(ClientConfig::default(), SERVER, &keys, seed, now)
            })
            .collect();
        let mut broker = Broker {
            now,
            server: Server::new(ServerConfig::default(), &keys, [3; 32], now)
                .expect("valid config"),
            clients,
            bursts,
            server_sent: Vec::new(),
            received: vec![Vec::new(); CLIENTS],
        };
        broker.settle();
        assert!(broker.clients.iter().all(Client::is_connected));
        broker
    }

    /// Moves every datagram to its destination until quiet: all clients' output reaches the
    /// server as one burst (or one by one), then the server's output reaches each client.
    fn settle(&mut self) {
        let mut buf = vec![0u8; 65_536];
        loop {
            let mut to_server: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
            for (i, client) in self.clients.iter_mut().enumerate() {
                while let Some(t) = client.poll_transmit(self.now, &mut buf) {
                    to_server.push((client_addr(i), buf[..t.len].to_vec()));
                }
            }
            let moved = !to_server.is_empty();
            if self.bursts {
                let mut burst: Vec<(SocketAddr, &mut [u8])> = to_server
                    .iter_mut()
                    .map(|(a, d)| (*a, &mut d[..]))
                    .collect();
                self.server.handle_datagrams(self.now, &mut burst);
            } else {
                for (from, mut d) in to_server {
                    self.server.handle_datagram(self.now, from, &mut d);
                }
            }
            let mut to_clients: Vec<Vec<Vec<u8>>> = vec![Vec::new(); CLIENTS];
            while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
                let datagram = buf[..t.len].to_vec();
                self.server_sent.push(datagram.clone());
                to_clients[usize::from(t.destination.port() - 10_000)].push(datagram);
            }
            let moved = moved || to_clients.iter().any(|d| !d.is_empty());
            for (i, mut datagrams) in to_clients.into_iter().enumerate() {
                let client = &mut self.clients[i];
                if self.bursts {
                    let mut burst: Vec<(SocketAddr, &mut [u8])> =
                        datagrams.iter_mut().map(|d| (SERVER, &mut d[..])).collect();
                    client.handle_datagrams(self.now, &mut burst);
                } else {
                    for d in &mut datagrams {
                        client.handle_datagram(self.now, SERVER, d);
                    }
                }
                while let Some(event) = client.poll_event() {
                    if let ClientEvent::Message(m) = event {
                        self.received[i].push((m.subject.to_string(), m.payload.to_vec()));
                    }
                }
            }
            while self.server.poll_event().is_some() {}
            if !moved {
                return;
            }
        }
    }

    /// Subscribes the last two clients, then has the others publish `rounds` rounds of
    /// messages of several sizes (full datagrams and short ones in the same bursts).
    fn run(&mut self, rounds: usize) {
        for i in CLIENTS - 2..CLIENTS {
            self.clients[i]
                .subscribe("feed.>", None)
                .expect("a valid subject");
        }
        self.settle();
        for round in 0..rounds {
            for p in 0..CLIENTS - 2 {
                for k in 0..20 {
                    let size = [16, 128, 1000, 3000][(round + p + k) % 4];
                    let payload = vec![u8::try_from((round * 7 + p + k) % 251).unwrap(); size];
                    self.clients[p]
                        .publish(&format!("feed.{p}.{k}"), None, None, &payload)
                        .expect("a valid publish");
                }
            }
            self.settle();
            self.now += std::time::Duration::from_millis(1);
            self.server.handle_timeout(self.now);
            for client in &mut self.clients {
                client.handle_timeout(self.now);
            }
            self.settle();
        }
    }
}

/// Every engine this CPU has, then the chosen ones (the test binary's one test, so forcing the
/// process-wide choice disturbs nothing else).
#[test]
fn bursts_change_nothing_against_one_by_one() {
    let engines = [Engine::Single, Engine::ShaLanes, Engine::Wide];
    for engine in engines.into_iter().filter(|e| e.available()) {
        kcpq_mac::force_engine(Some(engine));
        compare_bursts_with_one_by_one();
    }
    kcpq_mac::force_engine(None);
    compare_bursts_with_one_by_one();
}

fn compare_bursts_with_one_by_one() {
    let mut one_by_one = Broker::connected(false);
    let mut bursts = Broker::connected(true);
    one_by_one.run(12);
    bursts.run(12);
    let expected = 12 * (CLIENTS - 2) * 20;
    for i in CLIENTS - 2..CLIENTS {
        assert_eq!(one_by_one.received[i].len(), expected, "subscriber {i}");
    }
    for i in 0..CLIENTS {
        assert_eq!(
            bursts.received[i].len(),
            one_by_one.received[i].len(),
            "client {i}"
        );
        assert!(
            bursts.received[i] == one_by_one.received[i],
            "client {i} received other messages"
        );
    }
    assert_eq!(bursts.server_sent.len(), one_by_one.server_sent.len());
    assert!(
        bursts.server_sent == one_by_one.server_sent,
        "the server's datagrams differ"
    );
    let stats = bursts.server.stats();
    assert_eq!(stats.drops.bad_tag, 0);
}
