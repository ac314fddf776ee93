//! Hostile FEC shards through real packet protection: a replayed shard is a replayed packet, a
//! forged or altered one fails the tag, one from another session cannot be opened; none of them
//! reaches KCP or the FEC decoder, and all are counted.

use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use kcpq_core::client::{Client, ClientConfig};
use kcpq_core::crypto::{Key, KeySet};
use kcpq_core::fec::{FecConfig, FecMode};
use kcpq_core::server::{Server, ServerConfig};

const SERVER: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)),
    4000,
);

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([10, 0, 1, 1], port))
}

fn fec() -> FecConfig {
    FecConfig::with_mode(FecMode::Fixed { data: 4, parity: 2 })
}

/// A server and clients on a perfect network; every datagram a client sends is recorded.
struct Net {
    now: Instant,
    server: Server,
    clients: Vec<(SocketAddr, Client)>,
    sent: Vec<(usize, Vec<u8>)>,
    buf: Vec<u8>,
}

impl Net {
    fn new() -> Net {
        let keys = KeySet::single(Key::from_bytes([7; 32]));
        let mut config = ServerConfig::default();
        config.fec = fec();
        let mut net = Net {
            now: Instant::ZERO,
            server: Server::new(config, &keys, [1; 32], Instant::ZERO).unwrap(),
            clients: Vec::new(),
            sent: Vec::new(),
            buf: vec![0; 65_536],
        };
        for i in 0..2u8 {
            let mut config = ClientConfig::default();
            config.fec = fec();
            let client = Client::new(config, SERVER, &keys, [10 + i; 32], net.now);
            net.clients.push((addr(10_000 + u16::from(i)), client));
        }
        net.settle();
        assert!(net.clients.iter().all(|(_, c)| c.is_connected()));
        net
    }

    /// Moves datagrams until quiet, then lets 10 ms pass (closing open groups) and again.
    fn settle(&mut self) {
        for _ in 0..3 {
            loop {
                let mut moved = false;
                for (i, (from, client)) in self.clients.iter_mut().enumerate() {
                    while let Some(t) = client.poll_transmit(self.now, &mut self.buf) {
                        self.sent.push((i, self.buf[..t.len].to_vec()));
                        self.server
                            .handle_datagram(self.now, *from, &mut self.buf[..t.len]);
                        moved = true;
                    }
                }
                while let Some(t) = self.server.poll_transmit(self.now, &mut self.buf) {
                    if let Some((_, client)) =
                        self.clients.iter_mut().find(|(a, _)| *a == t.destination)
                    {
                        client.handle_datagram(self.now, SERVER, &mut self.buf[..t.len]);
                    }
                    moved = true;
                }
                if !moved {
                    break;
                }
            }
            self.now += Duration::from_millis(10);
            self.server.handle_timeout(self.now);
            for (_, client) in &mut self.clients {
                client.handle_timeout(self.now);
            }
        }
    }
}

#[test]
fn replayed_forged_and_foreign_shards_are_dropped_and_counted() {
    let mut net = Net::new();
    let first = net.sent.len();
    for i in 0..20u32 {
        net.clients[0]
            .1
            .publish("t", None, None, &i.to_le_bytes())
            .unwrap();
        net.settle();
    }
    let stats = net.server.stats();
    assert_eq!(stats.fec.sessions, 2);
    assert!(stats.fec.parity_sent > 0);
    assert_eq!(stats.msgs_in, 20);
    let shards: Vec<Vec<u8>> = net.sent[first..]
        .iter()
        .filter(|(i, _)| *i == 0)
        .map(|(_, d)| d.clone())
        .collect();
    assert!(shards.len() >= 20);
    let from = net.clients[0].0;
    let before = net.server.stats();

    // Replayed: every shard again, parity included.
    for shard in &shards {
        net.server
            .handle_datagram(net.now, from, &mut shard.clone());
    }
    // Altered: one bit of the ciphertext (the shard header) flipped, under a packet number
    // not seen yet (an old one would be dropped as a replay before its tag is checked).
    for (k, shard) in shards.iter().enumerate() {
        let mut forged = shard.clone();
        forged[9..17].copy_from_slice(&(1u64 << 40 | k as u64).to_be_bytes());
        forged[17] ^= 0x01;
        net.server.handle_datagram(net.now, from, &mut forged);
    }
    // Another session's shard under this session's id.
    let (_, other) = net.sent[first..]
        .iter()
        .find(|(i, _)| *i == 1)
        .cloned()
        .unwrap_or_else(|| (1, shards[0].clone()));
    let mut foreign = other.clone();
    foreign[1..9].copy_from_slice(&shards[0][1..9]);
    foreign[9..17].copy_from_slice(&(1u64 << 41).to_be_bytes());
    net.server.handle_datagram(net.now, from, &mut foreign);
    net.settle();

    let after = net.server.stats();
    let n = shards.len() as u64;
    assert_eq!(after.drops.duplicate - before.drops.duplicate, n);
    assert_eq!(after.drops.bad_tag - before.drops.bad_tag, n + 1);
    assert_eq!(after.msgs_in, 20, "nothing injected or repeated");
    assert_eq!(after.fec.recovered, before.fec.recovered);
    assert_eq!(after.fec.dropped, before.fec.dropped);
}

#[test]
fn a_reconnect_starts_fresh_groups_and_fec_again() {
    let mut net = Net::new();
    net.clients[0].1.publish("t", None, None, b"x").unwrap();
    net.settle();
    let server_before = net.server.stats().fec;
    // The server forgets everything (a restart): the client reconnects with new sessions, the
    // old session's groups die with it.
    let keys = KeySet::single(Key::from_bytes([7; 32]));
    let mut config = ServerConfig::default();
    config.fec = fec();
    net.server = Server::new(config, &keys, [2; 32], net.now).unwrap();
    // Both clients send something: the new server answers with stateless resets.
    for (_, client) in &mut net.clients {
        client.publish("t", None, None, b"lost").unwrap();
    }
    for _ in 0..300 {
        net.settle();
        if net.server.stats().fec.sessions == 2 {
            break;
        }
    }
    assert!(server_before.parity_sent > 0);
    assert_eq!(net.server.stats().fec.sessions, 2);
    assert!(net.clients.iter().all(|(_, c)| c.stats().reconnects == 1));
    assert!(net.clients.iter().all(|(_, c)| c.stats().fec.sessions == 1));
    net.clients[0].1.publish("t", None, None, b"y").unwrap();
    net.settle();
    assert!(net.server.stats().msgs_in >= 1);
}
