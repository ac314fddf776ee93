//! 100 000 garbage and unauthenticated handshake packets against one responder: its tables stay
//! empty, it never sends more bytes than it received (per datagram and in total), and a genuine
//! client still gets in afterwards.

use std::net::SocketAddr;

use kcpq_core::Instant;
use kcpq_core::crypto::handshake::{FINISH_LEN, INITIATION_LEN, MAX_HANDSHAKE_LEN};
use kcpq_core::crypto::wire::{TYPE_ACCEPT, TYPE_COOKIE, TYPE_DATA, TYPE_FINISH, TYPE_INITIATION};
use kcpq_core::crypto::{
    DATA_OVERHEAD, HandshakeInitiator, HandshakeOutcome, HandshakeResponder, InitiatorConfig, Key,
    KeySet, ResponderConfig,
};
use kcpq_core::rng::Rng;

struct Flood {
    server: HandshakeResponder,
    received: u64,
    sent: u64,
    now: Instant,
}

impl Flood {
    /// Feeds one datagram the way a server would: handshake packets to `handle`, data-shaped
    /// ones to `try_establish` and then `stateless_reset`. Returns the reply.
    fn feed(&mut self, from: SocketAddr, datagram: &[u8]) -> Vec<u8> {
        self.received += datagram.len() as u64;
        let mut out = [0u8; 1500];
        let reply = if kcpq_core::crypto::is_data_packet(datagram) {
            let mut copy = datagram.to_vec();
            match self.server.try_establish(self.now, from, &mut copy) {
                Ok(_) => panic!("garbage established a session"),
                Err(_) => self.server.stateless_reset(self.now, datagram, &mut out),
            }
        } else {
            self.server
                .handle(self.now, from, datagram, &mut out)
                .unwrap()
        };
        let n = reply.unwrap_or(0);
        assert!(
            n <= datagram.len(),
            "reply of {n} bytes to a {}-byte datagram",
            datagram.len()
        );
        self.sent += n as u64;
        out[..n].to_vec()
    }
}

fn random_bytes(rng: &mut Rng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill(&mut v);
    v
}

#[test]
fn garbage_and_unauthenticated_handshakes_leave_no_state_and_no_amplification() {
    let keys = KeySet::single(Key::from_bytes([1; 32]));
    let key_id = keys.primary().id();
    let mut flood = Flood {
        server: HandshakeResponder::new(
            &keys,
            Rng::from_seed([1; 32]),
            ResponderConfig::default(),
            Instant::ZERO,
        ),
        received: 0,
        sent: 0,
        now: Instant::ZERO,
    };
    let mut rng = Rng::from_seed([2; 32]);
    let mut cookies: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
    for i in 0..100_000u32 {
        flood.now = Instant::from_micros(u64::from(i) * 50);
        let from: SocketAddr = format!(
            "10.{}.{}.1:{}",
            rng.below(4),
            rng.below(250),
            1000 + rng.below(20)
        )
        .parse()
        .unwrap();
        let datagram = match rng.below(9) {
            0 => {
                let len = rng.below(1500) as usize;
                random_bytes(&mut rng, len)
            }
            1 => {
                // Random bodies behind each handshake type, at and around the exact lengths.
                let ty =
                    [TYPE_INITIATION, TYPE_COOKIE, TYPE_FINISH, TYPE_ACCEPT][rng.below(4) as usize];
                let len = [0, 1, 42, 70, 101, 102, 103, 127, 128, 200][rng.below(10) as usize];
                let mut d = random_bytes(&mut rng, len);
                if let Some(b) = d.first_mut() {
                    *b = ty;
                }
                if len > 1 {
                    d[1] = 1;
                }
                d
            }
            2 | 3 => {
                // A well-formed Initiation with the server's (public) key id: earns a Cookie.
                let mut d = vec![0u8; INITIATION_LEN + rng.below(3) as usize];
                d[0] = TYPE_INITIATION;
                d[1] = 1;
                d[2..6].copy_from_slice(&key_id.0);
                rng.fill(&mut d[6..38]);
                if rng.below(10) == 0 {
                    d.truncate(INITIATION_LEN - 1 - rng.below(10) as usize);
                }
                d
            }
            4 | 5 if !cookies.is_empty() => {
                // A Finish with a genuine cookie for the sender's address but no key: bad proof.
                let (addr, cookie) = cookies[rng.below(cookies.len() as u64) as usize].clone();
                let mut d = vec![0u8; FINISH_LEN];
                d[..70].copy_from_slice(&cookie);
                d[0] = TYPE_FINISH;
                rng.fill(&mut d[70..]);
                let reply = flood.feed(addr, &d);
                assert!(reply.is_empty());
                continue;
            }
            6 => {
                // A Finish with a forged cookie.
                let mut d = random_bytes(&mut rng, FINISH_LEN);
                d[0] = TYPE_FINISH;
                d[1] = 1;
                d[2..6].copy_from_slice(&key_id.0);
                d
            }
            _ => {
                // Data-shaped packets for unknown session ids: only small resets, rate limited.
                let len = DATA_OVERHEAD + rng.below(1400) as usize;
                let mut d = random_bytes(&mut rng, len);
                d[0] = TYPE_DATA | (rng.below(2) as u8);
                d
            }
        };
        let reply = flood.feed(from, &datagram);
        if reply.len() == 70 && cookies.len() < 1000 {
            cookies.push((from, reply));
        }
    }
    let stats = flood.server.stats().clone();
    assert_eq!(flood.server.half_open_len(), 0);
    assert_eq!(stats.half_open_created, 0);
    assert!(flood.sent <= flood.received);
    assert!(stats.unproven_reply_bytes <= stats.received_bytes);
    assert!(stats.dropped_bad_proof > 5_000, "{stats:?}");
    assert!(stats.dropped_bad_cookie > 5_000, "{stats:?}");
    assert!(stats.dropped_malformed > 5_000, "{stats:?}");
    assert!(stats.unproven_replies > 10_000, "{stats:?}");
    let resets = flood.server.reset_stats();
    assert!(
        resets.rate_limited > 0 && resets.sent <= 32 + 64 * 5 + 1,
        "{resets:?}"
    );
    println!(
        "received {} bytes, replied {} bytes; {stats:?}; {resets:?}",
        flood.received, flood.sent
    );

    // A genuine client still gets in.
    let mut rng = Rng::from_seed([3; 32]);
    let server_addr: SocketAddr = "127.0.0.1:4222".parse().unwrap();
    let mut client = HandshakeInitiator::new(
        flood.now,
        server_addr,
        &keys,
        &mut rng,
        InitiatorConfig::default(),
    );
    let from: SocketAddr = "192.168.1.1:5555".parse().unwrap();
    let mut buf = [0u8; MAX_HANDSHAKE_LEN];
    for _ in 0..2 {
        let n = client.poll_transmit(flood.now, &mut buf).unwrap().unwrap();
        let reply = flood.feed(from, &buf[..n]);
        client.handle_datagram(flood.now, &reply);
    }
    assert!(matches!(
        client.poll_outcome(),
        Some(HandshakeOutcome::Established(_))
    ));
    assert_eq!(flood.server.half_open_len(), 1);
}
