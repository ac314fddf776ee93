//! The order of the server's output after a publish: the message for the subscriber leaves
//! before the datagram that only acknowledges the publisher's, so the ACK's send (and the
//! publisher's wake-up it causes) never delays the message on its way.

use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::client::{Client, ClientConfig, ClientEvent};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::server::{Server, ServerConfig};

const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);
const PUBLISHER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 1)),
    10_000,
);
const SUBSCRIBER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 1)),
    10_001,
);

struct Pair {
    now: Instant,
    server: Server,
    publisher: Client,
    subscriber: Client,
    buf: Vec<u8>,
    flushed: usize,
}

impl Pair {
    /// Moves every datagram to its destination (perfect network, no time passing) until quiet.
    fn settle(&mut self) {
        let Pair {
            now,
            server,
            publisher,
            subscriber,
            buf,
            flushed,
        } = self;
        loop {
            let mut moved = false;
            for (from, client) in [(PUBLISHER, &mut *publisher), (SUBSCRIBER, &mut *subscriber)] {
                while let Some(t) = client.poll_transmit(*now, buf) {
                    server.handle_datagram(*now, from, &mut buf[..t.len]);
                    moved = true;
                }
            }
            while let Some(t) = server.poll_transmit(*now, buf) {
                let client = if t.destination == PUBLISHER {
                    &mut *publisher
                } else {
                    &mut *subscriber
                };
                client.handle_datagram(*now, SERVER, &mut buf[..t.len]);
                moved = true;
            }
            for client in [&mut *publisher, &mut *subscriber] {
                while let Some(event) = client.poll_event() {
                    if matches!(event, ClientEvent::Flushed(_)) {
                        *flushed += 1;
                    }
                }
            }
            while server.poll_event().is_some() {}
            if !moved {
                return;
            }
        }
    }
}

#[test]
fn the_routed_message_leaves_before_the_publishers_ack() {
    let keys = KeySet::single(Key::from_bytes([7; 32]));
    let now = Instant::ZERO;
    let mut pair = Pair {
        now,
        server: Server::new(ServerConfig::default(), &keys, [1; 32], now).expect("valid config"),
        publisher: Client::new(ClientConfig::default(), SERVER, &keys, [2; 32], now),
        subscriber: Client::new(ClientConfig::default(), SERVER, &keys, [3; 32], now),
        buf: vec![0; 65_536],
        flushed: 0,
    };
    pair.settle();
    assert!(pair.publisher.is_connected() && pair.subscriber.is_connected());
    pair.subscriber
        .subscribe("orders", None)
        .expect("a valid subject");
    pair.subscriber
        .flush(now, Duration::from_secs(5))
        .expect("connected");
    pair.publisher
        .flush(now, Duration::from_secs(5))
        .expect("connected");
    pair.settle();
    assert_eq!(pair.flushed, 2, "both sessions settled");

    pair.publisher
        .publish("orders", None, None, b"one")
        .expect("a valid publish");
    let t = pair
        .publisher
        .poll_transmit(now, &mut pair.buf)
        .expect("the publish leaves at once");
    pair.server
        .handle_datagram(now, PUBLISHER, &mut pair.buf[..t.len]);
    let mut order = Vec::new();
    while let Some(t) = pair.server.poll_transmit(now, &mut pair.buf) {
        order.push(t.destination);
    }
    assert_eq!(
        order,
        [SUBSCRIBER, PUBLISHER],
        "the message first, then the ACK of the publish"
    );
}
