//! What a subscriber's client allocates per received message once warm: its payload, and its
//! subject only when the subject changes (a subscription shares its last message's subject).
//! Counted by a wrapping global allocator, only inside the subscriber's own calls.

use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::client::{Client, ClientConfig, ClientEvent};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::server::{Server, ServerConfig};

mod alloc_count;

use alloc_count::{charged, charged_if_due};

#[global_allocator]
static GLOBAL: alloc_count::Counting = alloc_count::Counting;

const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);
const PUBLISHER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 1)),
    20_000,
);
const SUBSCRIBER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 2)),
    20_001,
);

/// A server, a publisher and a subscriber on a perfect, instant network.
struct Rig {
    now: Instant,
    server: Server,
    publisher: Client,
    subscriber: Client,
    buf: Vec<u8>,
    /// Subjects of the messages the subscriber received, in order.
    subjects: Vec<String>,
}

impl Rig {
    fn new() -> Rig {
        let keys = KeySet::single(Key::from_bytes([0x42; 32]));
        let now = Instant::ZERO;
        let client = |n: u8| {
            let mut config = ClientConfig::default();
            config.name = format!("c{n}");
            Client::new(config, SERVER, &keys, [n + 50; 32], now)
        };
        Rig {
            now,
            server: Server::new(ServerConfig::default(), &keys, [1; 32], now).expect("valid"),
            publisher: client(0),
            subscriber: client(1),
            buf: vec![0; 65_536],
            subjects: Vec::new(),
        }
    }

    /// Moves every datagram until nothing is left; returns the allocations the subscriber's
    /// client made (receiving, and handing out messages).
    fn settle(&mut self) -> usize {
        let before = alloc_count::allocations();
        loop {
            let mut moved = false;
            for (from, client) in [
                (PUBLISHER, &mut self.publisher),
                (SUBSCRIBER, &mut self.subscriber),
            ] {
                while let Some(t) = client.poll_transmit(self.now, &mut self.buf) {
                    moved = true;
                    self.server
                        .handle_datagram(self.now, from, &mut self.buf[..t.len]);
                }
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                moved = true;
                let datagram = &mut self.buf[..t.len];
                if t.destination == PUBLISHER {
                    self.publisher.handle_datagram(self.now, SERVER, datagram);
                } else if t.destination == SUBSCRIBER {
                    let (now, subscriber) = (self.now, &mut self.subscriber);
                    charged(|| subscriber.handle_datagram(now, SERVER, datagram));
                }
            }
            while self.server.poll_event().is_some() {}
            while self.publisher.poll_event().is_some() {}
            loop {
                let subscriber = &mut self.subscriber;
                let Some(event) = charged(|| subscriber.poll_event()) else {
                    break;
                };
                if let ClientEvent::Message(message) = event {
                    self.subjects.push(message.subject.to_string());
                }
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
        let mut allocations = 0;
        for client in [&mut self.publisher, &mut self.subscriber] {
            allocations +=
                charged_if_due(client.poll_timeout(), now, || client.handle_timeout(now));
        }
        if self.server.poll_timeout().is_some_and(|t| t <= now) {
            self.server.handle_timeout(now);
        }
        allocations + self.settle()
    }

    /// Publishes `count` messages on subjects `subject(i)`, a batch of 10 per millisecond;
    /// returns the subscriber's allocations.
    fn publish(&mut self, count: usize, subject: impl Fn(usize) -> String) -> usize {
        let mut allocations = 0;
        for i in 0..count {
            let payload = (i as u64).to_le_bytes();
            self.publisher
                .publish(&subject(i), None, None, &payload)
                .expect("publish");
            if i % 10 == 9 {
                allocations += self.tick(Duration::from_millis(1));
            }
        }
        allocations + self.tick(Duration::from_millis(1))
    }
}

/// A connected rig whose subscriber has a confirmed subscription to `filter` and has received
/// `warm` messages on `feed.0`.
fn warm_rig(filter: &str, warm: usize) -> Rig {
    let mut rig = Rig::new();
    for _ in 0..2000 {
        rig.tick(Duration::from_millis(1));
        if rig.publisher.is_connected() && rig.subscriber.is_connected() {
            break;
        }
    }
    assert!(rig.publisher.is_connected() && rig.subscriber.is_connected());
    rig.subscriber.subscribe(filter, None).expect("subscribe");
    for _ in 0..100 {
        rig.tick(Duration::from_millis(1));
    }
    rig.publish(warm, |_| "feed.0".to_owned());
    for _ in 0..100 {
        rig.tick(Duration::from_millis(1));
    }
    rig.subjects.clear();
    rig
}

#[test]
fn a_steady_subject_costs_one_allocation_per_message_the_payload() {
    let mut rig = warm_rig("feed.0", 3000);
    let measured = 5000;
    let allocations = rig.publish(measured, |_| "feed.0".to_owned());
    assert_eq!(rig.subjects.len(), measured, "every message arrived");
    assert!(rig.subjects.iter().all(|s| s == "feed.0"));
    let per_message = allocations as f64 / measured as f64;
    assert!(
        per_message <= 1.01,
        "{per_message:.3} allocations per received message (the payload is one)"
    );
}

#[test]
fn changing_subjects_cost_one_more_allocation_each_and_arrive_intact() {
    let mut rig = warm_rig("feed.*", 3000);
    let measured = 5000;
    let subject = |i: usize| format!("feed.{}", i % 7);
    let allocations = rig.publish(measured, subject);
    let expected: Vec<String> = (0..measured).map(subject).collect();
    assert_eq!(
        rig.subjects, expected,
        "each message carries its own subject"
    );
    let per_message = allocations as f64 / measured as f64;
    assert!(
        (1.9..=2.01).contains(&per_message),
        "{per_message:.3} allocations per received message (payload and subject)"
    );
}
