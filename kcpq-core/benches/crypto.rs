//! Criterion benchmarks for the `crypto` module.
//!
//! `seal+open 1400B` is the figure the design compares with
//! `openssl speed -bytes 1400 -evp aes-256-ctr` plus `openssl speed -bytes 1400 -evp sha256`:
//! one seal and one open of a full 1400-byte datagram (1367 payload bytes), that is two AES-CTR
//! passes and two HMAC-SHA256 passes over it.
use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kcpq_core::Instant;
use kcpq_core::crypto::handshake::MAX_HANDSHAKE_LEN;
use kcpq_core::crypto::{
    DATA_HEADER_LEN, DATA_OVERHEAD, HandshakeInitiator, HandshakeOutcome, HandshakeResponder,
    InitiatorConfig, Key, KeySet, PacketProtection, ProtectionConfig, ResponderConfig, Role,
    SessionId,
};
use kcpq_core::rng::Rng;

const DATAGRAM: usize = 1400;
const PAYLOAD: usize = DATAGRAM - DATA_OVERHEAD;

fn pair() -> (PacketProtection, PacketProtection) {
    let key = Key::from_bytes([7; 32]);
    let make = |role| {
        PacketProtection::from_handshake(
            role,
            &key,
            &[1; 32],
            &[2; 32],
            SessionId([3; 8]),
            ProtectionConfig::default(),
        )
    };
    (make(Role::Initiator), make(Role::Responder))
}

fn packets(c: &mut Criterion) {
    let mut group = c.benchmark_group("packet");
    group.throughput(Throughput::Bytes(DATAGRAM as u64));
    let (mut client, mut server) = pair();
    let mut buf = vec![0u8; DATAGRAM];
    group.bench_function("seal+open 1400B", |b| {
        b.iter(|| {
            let n = client.seal(&mut buf, PAYLOAD).expect("sized");
            let opened = server.open(Instant::ZERO, &mut buf[..n]).expect("genuine");
            black_box(opened.payload.len())
        })
    });
    let (mut client, _) = pair();
    group.bench_function("seal 1400B", |b| {
        b.iter(|| black_box(client.seal(&mut buf, PAYLOAD).expect("sized")))
    });
    let (mut client, mut server) = pair();
    let n = client.seal(&mut buf, PAYLOAD).expect("sized");
    buf[DATA_HEADER_LEN] ^= 1;
    group.bench_function("reject forged 1400B", |b| {
        b.iter(|| black_box(server.open(Instant::ZERO, &mut buf[..n]).is_err()))
    });
    group.finish();
}

fn handshake(c: &mut Criterion) {
    let keys = KeySet::single(Key::from_bytes([7; 32]));
    let server_addr: SocketAddr = "127.0.0.1:4222".parse().expect("literal");
    let mut responder = HandshakeResponder::new(
        &keys,
        Rng::from_seed([1; 32]),
        ResponderConfig::default(),
        Instant::ZERO,
    );
    let mut rng = Rng::from_seed([2; 32]);
    let mut port = 0u16;
    c.bench_function("handshake (both sides, incl. establish)", |b| {
        b.iter(|| {
            port = port.wrapping_add(1);
            let from = SocketAddr::from(([10, 0, 0, 1], port));
            let now = Instant::ZERO;
            let mut client = HandshakeInitiator::new(
                now,
                server_addr,
                &keys,
                &mut rng,
                InitiatorConfig::default(),
            );
            let mut buf = [0u8; MAX_HANDSHAKE_LEN];
            let mut out = [0u8; MAX_HANDSHAKE_LEN];
            for _ in 0..2 {
                let n = client
                    .poll_transmit(now, &mut buf)
                    .expect("sized")
                    .expect("due");
                let r = responder
                    .handle(now, from, &buf[..n], &mut out)
                    .expect("sized")
                    .expect("reply");
                client.handle_datagram(now, &out[..r]);
            }
            let Some(HandshakeOutcome::Established(mut session)) = client.poll_outcome() else {
                panic!("handshake failed")
            };
            let mut pkt = [0u8; 64];
            let n = session.protection.seal(&mut pkt, 24).expect("sized");
            black_box(
                responder
                    .try_establish(now, from, &mut pkt[..n])
                    .expect("establishes"),
            )
        })
    });
}

criterion_group!(group, packets, handshake);
criterion_main!(group);
