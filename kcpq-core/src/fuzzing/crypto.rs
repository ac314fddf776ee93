//! Fuzz entry points for the `crypto` module.
//!
//! - [`crypto_open_packet`]: arbitrary bytes into [`PacketProtection::open`], the session-id
//!   peek and the stateless reset check, and the same bytes XORed onto a genuine sealed packet
//!   (so the fuzzer explores near-valid packets). Checks: nothing but the genuine packet opens,
//!   and a failed open leaves the buffer untouched.
//! - [`crypto_responder`]: a [`HandshakeResponder`] (small bounds) fed a script of arbitrary
//!   datagrams from a few addresses at arbitrary increasing times, mixed with steps of genuine
//!   clients so the half-open table fills and drains. Checks: the table stays within its bounds,
//!   no reply is larger than the datagram it answers, and only genuine clients create entries.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Instant;
use crate::crypto::handshake::MAX_HANDSHAKE_LEN;
use crate::crypto::{
    DATA_HEADER_LEN, HandshakeInitiator, HandshakeResponder, InitiatorConfig, Key, KeySet,
    PacketProtection, ProtectionConfig, ResponderConfig, ResponderStats, Role, SessionId,
    is_data_packet, peek_session_id,
};
use crate::rng::Rng;

const FUZZ_SID: SessionId = SessionId([0xa5; 8]);

fn protection(role: Role) -> PacketProtection {
    PacketProtection::from_handshake(
        role,
        &Key::from_bytes([7; 32]),
        &[1; 32],
        &[2; 32],
        FUZZ_SID,
        ProtectionConfig::default(),
    )
}

/// Arbitrary bytes against the packet opener. Never panics on any input.
pub fn crypto_open_packet(data: &[u8]) {
    let mut server = protection(Role::Responder);
    let _ = peek_session_id(data);
    let _ = server.is_stateless_reset(data);
    let mut raw = data.to_vec();
    match server.open(Instant::ZERO, &mut raw) {
        // The fuzzer can learn a genuine packet of the fixed fuzz key from the comparisons
        // below (libFuzzer records memcmp operands), so opening is allowed only for bytes that
        // are exactly what the key holder seals for that plaintext at that packet number.
        Ok(opened) => {
            let plaintext = raw[opened.payload.clone()].to_vec();
            let mut client = protection(Role::Initiator);
            // The harness only ever seals packet number 0.
            assert_eq!(
                opened.packet_number, 0,
                "a packet number nobody sealed opened"
            );
            let mut resealed = vec![0u8; data.len()];
            resealed[DATA_HEADER_LEN..DATA_HEADER_LEN + plaintext.len()]
                .copy_from_slice(&plaintext);
            let n = client
                .seal(&mut resealed, plaintext.len())
                .expect("sized for the payload");
            assert_eq!(
                &resealed[..n],
                data,
                "bytes the key holder never sealed opened"
            );
            return;
        }
        Err(_) => assert_eq!(raw, data, "a failed open must not touch the buffer"),
    }

    // Near-valid packets: a genuine packet XORed with the input.
    let mut client = protection(Role::Initiator);
    let payload_len = usize::from(data.first().copied().unwrap_or(0));
    let mut genuine = vec![0u8; payload_len + crate::crypto::DATA_OVERHEAD];
    for (i, b) in genuine[DATA_HEADER_LEN..DATA_HEADER_LEN + payload_len]
        .iter_mut()
        .enumerate()
    {
        *b = i as u8;
    }
    let n = client
        .seal(&mut genuine, payload_len)
        .expect("buffer sized for the payload");
    let mut mutated = genuine[..n].to_vec();
    for (m, d) in mutated.iter_mut().zip(data.iter().skip(1)) {
        *m ^= d;
    }
    let untouched = mutated == genuine[..n];
    let before = mutated.clone();
    match server.open(Instant::ZERO, &mut mutated) {
        Ok(opened) => {
            assert!(untouched, "a modified packet opened");
            assert_eq!(opened.payload.len(), payload_len);
            let mut again = genuine[..n].to_vec();
            assert!(
                server.open(Instant::ZERO, &mut again).is_err(),
                "replay accepted"
            );
        }
        Err(_) => {
            assert!(!untouched, "the genuine packet did not open");
            assert_eq!(mutated, before, "a failed open must not touch the buffer");
        }
    }
}

const ADDRS: [&str; 4] = [
    "127.0.0.1:1000",
    "127.0.0.1:1001",
    "10.0.0.1:9",
    "[::1]:1000",
];
const MAX_HALF_OPEN: usize = 6;
const MAX_PER_ADDR: usize = 2;

/// A responder driven by an arbitrary script. Never panics on any input.
///
/// The script is a sequence of records `op(1) addr(1) dt(1) [len(1) bytes(len)]`: op selects a
/// raw handshake datagram, a raw data-shaped datagram, a genuine client step, or a timeout; addr
/// picks one of four addresses; dt advances the clock by `dt * 40 ms`.
pub fn crypto_responder(data: &[u8]) {
    run_responder(data);
}

/// The body of [`crypto_responder`], returning the responder's final counters.
fn run_responder(data: &[u8]) -> ResponderStats {
    let keys = KeySet::single(Key::from_bytes([7; 32]));
    let config = ResponderConfig {
        max_half_open: MAX_HALF_OPEN,
        max_half_open_per_addr: MAX_PER_ADDR,
        half_open_lifetime: Duration::from_secs(2),
        ..ResponderConfig::default()
    };
    let mut server = HandshakeResponder::new(&keys, Rng::from_seed([1; 32]), config, Instant::ZERO);
    let mut rng = Rng::from_seed([2; 32]);
    let server_addr: SocketAddr = "127.0.0.1:4222".parse().expect("valid literal");
    let mut clients: Vec<(SocketAddr, HandshakeInitiator)> = Vec::new();
    let mut now = Instant::ZERO;
    let mut genuine_finishes = 0u64;
    let mut rest = data;
    while let [op, addr, dt, tail @ ..] = rest {
        rest = tail;
        now += Duration::from_millis(u64::from(*dt) * 40);
        let from: SocketAddr = ADDRS[usize::from(*addr) % ADDRS.len()]
            .parse()
            .expect("valid literal");
        let mut out = [0u8; 1500];
        match op % 4 {
            0 | 1 => {
                let (len, body) = match rest {
                    [len, body @ ..] => (usize::from(*len).min(body.len()), body),
                    [] => (0, rest),
                };
                let datagram = &body[..len];
                rest = &body[len..];
                let reply = if is_data_packet(datagram) {
                    let mut copy = datagram.to_vec();
                    assert!(
                        server.try_establish(now, from, &mut copy).is_err(),
                        "forged session"
                    );
                    server.stateless_reset(now, datagram, &mut out)
                } else {
                    server
                        .handle(now, from, datagram, &mut out)
                        .expect("out is large enough")
                };
                assert!(reply.unwrap_or(0) <= datagram.len(), "amplification");
            }
            2 => {
                // A genuine client step: start one, or move an existing one forward.
                if clients.len() < 16 && *dt % 2 == 0 {
                    let c = HandshakeInitiator::new(
                        now,
                        server_addr,
                        &keys,
                        &mut rng,
                        InitiatorConfig::default(),
                    );
                    clients.push((from, c));
                }
                let index = usize::from(*addr) % clients.len().max(1);
                if let Some((from, client)) = clients.get_mut(index) {
                    client.handle_timeout(now);
                    let mut buf = [0u8; MAX_HANDSHAKE_LEN];
                    while let Ok(Some(n)) = client.poll_transmit(now, &mut buf) {
                        genuine_finishes += u64::from(buf[0] == crate::crypto::wire::TYPE_FINISH);
                        let reply = server
                            .handle(now, *from, &buf[..n], &mut out)
                            .expect("sized");
                        if let Some(r) = reply {
                            assert!(r <= n, "amplification");
                            client.handle_datagram(now, &out[..r]);
                        }
                    }
                    let _ = client.poll_outcome();
                }
            }
            _ => server.handle_timeout(now),
        }
        assert!(
            server.half_open_len() <= MAX_HALF_OPEN,
            "half-open table over its bound"
        );
        let stats = server.stats();
        assert!(
            stats.half_open_created <= genuine_finishes,
            "an entry without a genuine Finish"
        );
        assert!(stats.unproven_reply_bytes <= stats.received_bytes);
    }
    if server.poll_timeout().is_some() {
        server.handle_timeout(now + Duration::from_secs(3));
        assert_eq!(server.half_open_len(), 0, "every half-open entry expires");
        assert_eq!(server.poll_timeout(), None);
    }
    server.stats().clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_genuine_packet_learned_by_the_fuzzer_is_not_a_failure() {
        // Found by cargo fuzz: the fuzzer replayed the harness's own sealed packet.
        let mut client = protection(Role::Initiator);
        let mut genuine = vec![0u8; 10 + crate::crypto::DATA_OVERHEAD];
        let n = client.seal(&mut genuine, 10).unwrap();
        crypto_open_packet(&genuine[..n]);
    }

    #[test]
    fn open_packet_target_accepts_any_input() {
        let mut rng = Rng::from_seed([4; 32]);
        crypto_open_packet(&[]);
        crypto_open_packet(&[0]);
        crypto_open_packet(&[17; 3]);
        for len in [1usize, 2, 33, 34, 60, 300] {
            let mut data = vec![0u8; len];
            for _ in 0..20 {
                rng.fill(&mut data);
                crypto_open_packet(&data);
            }
        }
    }

    #[test]
    fn responder_target_accepts_any_input_and_exercises_half_open() {
        let mut rng = Rng::from_seed([5; 32]);
        crypto_responder(&[]);
        // Many genuine client steps from four addresses fill the table up to its bounds.
        let script: Vec<u8> = (0..200u8).flat_map(|i| [2, i, (i % 3) * 2]).collect();
        let stats = run_responder(&script);
        assert!(stats.half_open_created >= MAX_HALF_OPEN as u64, "{stats:?}");
        assert!(stats.refused_address_full > 0, "{stats:?}");
        assert!(
            stats.accepts_resent + stats.half_open_expired > 0,
            "{stats:?}"
        );
        for _ in 0..50 {
            let mut data = vec![0u8; 400];
            rng.fill(&mut data);
            crypto_responder(&data);
        }
    }
}
