//! Datagrams exchanged over 127.0.0.1 with offload on and off (trains are formed and split in
//! `kcpq_os::udp`, and tested there).

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use async_io::Timer;
use futures_lite::future;
use kcpq_core::rng::Rng;
use kcpq_core::server::Transmit;

use super::{SocketOptions, UdpIo};
use crate::test_runtime::TestSocket;
use kcpq_os::udp::{MAX_BATCH, RECV_GROUP};

/// KCPQ's default datagram bound (KCP MTU 1367 plus 64).
const MAX_DATAGRAM: usize = 1431;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn bind(offload: bool) -> UdpIo<TestSocket> {
    let options = SocketOptions {
        offload,
        ..SocketOptions::default()
    };
    let io = UdpIo::bind(addr(0), &options, MAX_DATAGRAM).expect("bind 127.0.0.1");
    assert_eq!(io.offload(), offload, "quinn-udp set the socket up");
    io
}

/// Runs `test` on the current thread; fails it after 20 s instead of hanging.
fn bounded(test: impl Future<Output = ()>) {
    future::block_on(future::or(test, async {
        Timer::after(Duration::from_secs(20)).await;
        panic!("timed out");
    }));
}

/// One planned datagram: its receiver, its number among those sent to that receiver, its length.
#[derive(Debug, Clone, Copy)]
struct Planned {
    to: usize,
    seq: u32,
    len: usize,
}

/// 200 datagrams in runs of full-size datagrams to one receiver, a run ending with a shorter
/// one or not, receivers interleaved, and single small ones between runs.
fn plan(seed: u8) -> Vec<Planned> {
    let mut rng = Rng::from_seed([seed; 32]);
    let mut seqs = [0u32; 2];
    let mut plan = Vec::new();
    let mut push = |to: usize, len: usize, plan: &mut Vec<Planned>| {
        plan.push(Planned {
            to,
            seq: seqs[to],
            len,
        });
        seqs[to] += 1;
    };
    while plan.len() < 200 {
        let to = rng.below(2) as usize;
        for _ in 0..rng.below(50) {
            push(to, MAX_DATAGRAM, &mut plan);
        }
        match rng.below(3) {
            0 => push(
                to,
                8 + rng.below(MAX_DATAGRAM as u64 - 8) as usize,
                &mut plan,
            ),
            1 => push(1 - to, 8 + rng.below(40) as usize, &mut plan),
            _ => {}
        }
    }
    plan.truncate(200);
    plan
}

/// The bytes of a planned datagram: receiver, number and length, then a pattern of all three.
fn fill(datagram: &mut [u8], p: &Planned) {
    datagram[0] = p.to as u8;
    datagram[1..5].copy_from_slice(&p.seq.to_be_bytes());
    datagram[5..7].copy_from_slice(&(p.len as u16).to_be_bytes());
    for (i, byte) in datagram[7..].iter_mut().enumerate() {
        *byte = (i as u32 ^ p.seq.wrapping_mul(31) ^ p.len as u32) as u8;
    }
}

/// A receiver's view: what arrived, checked against the plan as it arrives.
struct Receiver {
    io: UdpIo<TestSocket>,
    index: usize,
    next_seq: u32,
    expected: Vec<Planned>,
}

impl Receiver {
    /// Takes what is queued, in calls of at most `max` datagrams; checks each datagram and the
    /// bound.
    fn take(&mut self, sender: SocketAddr, max: usize) {
        loop {
            let Receiver {
                io,
                index,
                next_seq,
                expected,
            } = self;
            let handled = io.recv_batch(max, |group| {
                assert!(!group.is_empty() && group.len() <= RECV_GROUP);
                for (from, datagram) in group.iter() {
                    assert_eq!(*from, sender);
                    let p = expected[*next_seq as usize];
                    assert_eq!(datagram.len(), p.len, "datagram {} length", p.seq);
                    let mut want = vec![0u8; p.len];
                    fill(&mut want, &p);
                    assert_eq!(&datagram[..], &want[..], "datagram {} bytes", p.seq);
                    assert_eq!(p.to, *index);
                    *next_seq += 1;
                }
            });
            assert!(handled <= max, "{handled} datagrams in a burst of {max}");
            if handled < max && !self.io.has_pending() {
                return;
            }
        }
    }

    fn done(&self) -> bool {
        self.next_seq as usize == self.expected.len()
    }
}

/// Sends the plan from one socket to two, then checks each receiver got its datagrams whole,
/// in order, and that neither side's batches broke their bounds.
fn exchange(sender_offload: bool, receiver_offload: bool, seed: u8) {
    let plan = plan(seed);
    let mut tx = bind(sender_offload);
    let mut rx: Vec<Receiver> = (0..2)
        .map(|index| Receiver {
            io: bind(receiver_offload),
            index,
            next_seq: 0,
            expected: plan.iter().copied().filter(|p| p.to == index).collect(),
        })
        .collect();
    let from = tx.local_addr().expect("sender address");
    let to: Vec<SocketAddr> = rx
        .iter()
        .map(|r| r.io.local_addr().expect("receiver address"))
        .collect();
    bounded(async {
        for p in &plan {
            fill(&mut tx.slot()[..p.len], p);
            let full = tx.commit(Transmit {
                destination: to[p.to],
                len: p.len,
            });
            assert!(tx.queue.datagrams().count() <= MAX_BATCH);
            if full {
                tx.send_batch().await;
                rx.iter_mut().for_each(|r| r.take(from, 7));
            }
        }
        tx.send_batch().await;
        for r in &mut rx {
            while !r.done() {
                r.io.readable().await.expect("readable");
                r.take(from, 7);
            }
        }
    });
    let sent = tx.stats();
    assert_eq!((sent.sent, sent.send_failures), (200, 0));
    assert!(sent.largest_send <= tx.max_gso_segments().max(1));
    if !sender_offload || tx.max_gso_segments() == 1 {
        assert_eq!((sent.send_calls, sent.largest_send), (200, 1));
    } else {
        assert!(sent.send_calls < 100, "{sent:?}: GSO trains formed");
    }
    for r in &rx {
        assert_eq!(r.io.stats().received, r.expected.len() as u64);
        if !receiver_offload {
            assert_eq!(r.io.stats().largest_recv, 1);
        }
    }
}

#[test]
fn offload_on_both_sides_delivers_every_datagram_whole_and_in_order() {
    exchange(true, true, 1);
    exchange(true, true, 2);
}

#[test]
fn offload_off_both_sides_delivers_every_datagram_whole_and_in_order() {
    exchange(false, false, 3);
}

#[test]
fn offload_on_one_side_only_interoperates() {
    exchange(true, false, 4);
    exchange(false, true, 5);
}

#[test]
fn a_full_batch_to_one_peer_leaves_in_gso_trains_and_arrives_in_gro_trains() {
    let mut tx = bind(true);
    let mut rx = bind(true);
    let to = rx.local_addr().expect("receiver address");
    bounded(async {
        for seq in 0..MAX_BATCH as u32 {
            let p = Planned {
                to: 0,
                seq,
                len: MAX_DATAGRAM,
            };
            fill(&mut tx.slot()[..MAX_DATAGRAM], &p);
            tx.commit(Transmit {
                destination: to,
                len: MAX_DATAGRAM,
            });
        }
        tx.send_batch().await;
        let mut seen = 0u32;
        let mut split_trains = 0;
        while seen < MAX_BATCH as u32 {
            rx.readable().await.expect("readable");
            let handled = rx.recv_batch(5, |group| {
                for (_, datagram) in group.iter() {
                    assert_eq!(datagram.len(), MAX_DATAGRAM);
                    assert_eq!(datagram[1..5], seen.to_be_bytes());
                    seen += 1;
                }
            });
            assert!(handled <= 5);
            split_trains += usize::from(rx.has_pending());
        }
        let (sent, received) = (tx.stats(), rx.stats());
        if tx.max_gso_segments() > 1 {
            // 45 datagrams of 1431 bytes fill the 65 507 bytes of a train; 19 follow.
            assert_eq!((sent.send_calls, sent.largest_send), (2, 45));
            if rx.gro_segments() > 1 {
                assert!(received.largest_recv >= 45, "{received:?}");
                assert!(split_trains > 0, "a train outlasted a burst");
            }
        }
    });
}
