//! The order of the server's output: after a publish, the message for the subscriber leaves
//! before the datagram that only acknowledges the publisher's, so the ACK's send (and the
//! publisher's wake-up it causes) never delays the message on its way; and sessions with a
//! backlog take turns of up to `TRANSMIT_BURST` datagrams, so an adapter's batched send (GSO)
//! carries a turn in one system call while no session waits behind another's whole backlog.

use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::client::{Client, ClientConfig, ClientEvent};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::kcp::KcpConfig;
use kcpq_core::server::{Server, ServerConfig, TRANSMIT_BURST};

const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);

/// The address of client `i`.
fn client_addr(i: usize) -> SocketAddr {
    let port = 10_000 + u16::try_from(i).expect("a few clients");
    SocketAddr::new(
        std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 1, 1)),
        port,
    )
}

/// A server and its clients on a perfect network where no time passes.
struct Broker {
    now: Instant,
    server: Server,
    clients: Vec<Client>,
    buf: Vec<u8>,
    flushed: usize,
}

impl Broker {
    /// A server and `count` connected clients.
    fn connected(count: usize) -> Broker {
        let keys = KeySet::single(Key::from_bytes([7; 32]));
        let now = Instant::ZERO;
        let clients = (0..count)
            .map(|i| {
                let seed = [2 + u8::try_from(i).expect("a few clients"); 32];
                Client::new(ClientConfig::default(), SERVER, &keys, seed, now)
            })
            .collect();
        let mut broker = Broker {
            now,
            server: Server::new(ServerConfig::default(), &keys, [1; 32], now)
                .expect("valid config"),
            clients,
            buf: vec![0; 65_536],
            flushed: 0,
        };
        broker.settle();
        assert!(broker.clients.iter().all(Client::is_connected));
        broker
    }

    /// Subscribes client `i` to `subject` and waits until the server has it.
    fn subscribe(&mut self, i: usize, subject: &str) {
        let flushed = self.flushed;
        let client = &mut self.clients[i];
        client.subscribe(subject, None).expect("a valid subject");
        client
            .flush(self.now, Duration::from_secs(5))
            .expect("connected");
        self.settle();
        assert_eq!(self.flushed, flushed + 1, "the subscription is in place");
    }

    /// Moves every datagram to its destination until quiet.
    fn settle(&mut self) {
        let Broker {
            now,
            server,
            clients,
            buf,
            flushed,
        } = self;
        loop {
            let mut moved = false;
            for (i, client) in clients.iter_mut().enumerate() {
                while let Some(t) = client.poll_transmit(*now, buf) {
                    server.handle_datagram(*now, client_addr(i), &mut buf[..t.len]);
                    moved = true;
                }
            }
            while let Some(t) = server.poll_transmit(*now, buf) {
                let i = usize::from(t.destination.port() - 10_000);
                clients[i].handle_datagram(*now, SERVER, &mut buf[..t.len]);
                moved = true;
            }
            for client in clients.iter_mut() {
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

    /// Hands every datagram client `i` has to send to the server.
    fn deliver_from(&mut self, i: usize) {
        while let Some(t) = self.clients[i].poll_transmit(self.now, &mut self.buf) {
            let datagram = &mut self.buf[..t.len];
            self.server
                .handle_datagram(self.now, client_addr(i), datagram);
        }
    }

    /// The destinations of what the server sends now, in order.
    fn server_output(&mut self) -> Vec<SocketAddr> {
        let mut order = Vec::new();
        while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
            order.push(t.destination);
        }
        order
    }
}

#[test]
fn the_routed_message_leaves_before_the_publishers_ack() {
    let mut broker = Broker::connected(2);
    let (publisher, subscriber) = (0, 1);
    broker.subscribe(subscriber, "orders");
    broker.clients[publisher]
        .publish("orders", None, None, b"one")
        .expect("a valid publish");
    broker.deliver_from(publisher);
    assert_eq!(
        broker.server_output(),
        [client_addr(subscriber)],
        "the message leaves; the ACK of the publish waits for data to ride on (ack_delay)"
    );
    // With nothing to carry it, the ACK leaves alone at its deadline, after the message.
    broker.now += Duration::from_millis(u64::from(KcpConfig::fast().ack_delay));
    broker.server.handle_timeout(broker.now);
    assert_eq!(broker.server_output(), [client_addr(publisher)]);
}

#[test]
fn sessions_with_a_backlog_take_turns_of_a_burst() {
    let mut broker = Broker::connected(3);
    let (publisher, subscribers) = (0, [1, 2]);
    for i in subscribers {
        broker.subscribe(i, "frames");
    }
    // Enough 1 KB messages (one datagram each) for several turns per subscriber.
    let messages = 3 * TRANSMIT_BURST;
    for _ in 0..messages {
        broker.clients[publisher]
            .publish("frames", None, None, &[0x5a; 1024])
            .expect("a valid publish");
    }
    broker.deliver_from(publisher);
    let order = broker.server_output();
    let mut runs: Vec<(SocketAddr, usize)> = Vec::new();
    for destination in order {
        match runs.last_mut() {
            Some((to, n)) if *to == destination => *n += 1,
            _ => runs.push((destination, 1)),
        }
    }
    let to_subscribers: Vec<usize> = runs
        .iter()
        .filter(|(to, _)| *to != client_addr(publisher))
        .map(|&(_, n)| n)
        .collect();
    assert!(
        to_subscribers.iter().all(|&n| n <= TRANSMIT_BURST),
        "no session sends more than a burst while another waits: {runs:?}"
    );
    assert!(
        to_subscribers
            .iter()
            .filter(|&&n| n == TRANSMIT_BURST)
            .count()
            >= 4
            && TRANSMIT_BURST >= 8,
        "each subscriber's backlog leaves in full bursts of several datagrams, not one datagram \
         per turn: {runs:?}"
    );
}
