//! Trains formed from the queue, received buffers split at their stride and handed out in
//! groups.

use std::io::{self, IoSliceMut};
use std::net::{Ipv4Addr, SocketAddr};

use kcpq_core::Transmit;
use quinn_udp::RecvMeta;

use super::*;

/// KCPQ's default datagram bound (KCP MTU 1367 plus 64).
const MAX_DATAGRAM: usize = 1431;

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[test]
fn a_run_of_equal_lengths_to_one_destination_is_one_train_ending_at_a_shorter_one() {
    let a = addr(1);
    let queued = [(a, 1000), (a, 1000), (a, 1000), (a, 400), (a, 400)];
    assert_eq!(
        next_train(&queued, 64),
        Train {
            count: 4,
            bytes: 3400,
            segment: 1000
        }
    );
    assert_eq!(
        next_train(&queued[4..], 64),
        Train {
            count: 1,
            bytes: 400,
            segment: 400
        }
    );
}

#[test]
fn another_destination_or_a_longer_datagram_starts_a_new_train() {
    let (a, b) = (addr(1), addr(2));
    assert_eq!(next_train(&[(a, 500), (a, 500), (b, 500)], 64).count, 2);
    assert_eq!(next_train(&[(a, 500), (a, 501)], 64).count, 1);
    assert_eq!(next_train(&[(a, 500), (b, 500), (a, 500)], 64).count, 1);
}

#[test]
fn trains_stay_within_the_segment_and_byte_bounds() {
    let a = addr(1);
    let queued = vec![(a, 100); 100];
    assert_eq!(next_train(&queued, 64).count, 64);
    assert_eq!(next_train(&queued, 8).count, 8);
    assert_eq!(next_train(&queued, 1).count, 1);
    let full = vec![(a, MAX_DATAGRAM); MAX_BATCH];
    let train = next_train(&full, 64);
    assert_eq!(train.count, MAX_GSO_BYTES / MAX_DATAGRAM);
    assert!(train.bytes <= MAX_GSO_BYTES);
    assert!(train.bytes + MAX_DATAGRAM > MAX_GSO_BYTES);
    assert_eq!(next_train(&[], 64).count, 0);
}

#[test]
fn empty_datagrams_travel_alone() {
    let a = addr(1);
    assert_eq!(next_train(&[(a, 0), (a, 0)], 64).count, 1);
    assert_eq!(next_train(&[(a, 10), (a, 0)], 64).count, 1);
}

#[test]
fn received_buffers_split_at_their_stride() {
    // A train of 3 datagrams of 100 bytes and a last one of 30.
    assert_eq!(datagram_end(330, 100, 0), 100);
    assert_eq!(datagram_end(330, 100, 200), 300);
    assert_eq!(datagram_end(330, 100, 300), 330);
    // No GRO: the whole buffer is one datagram, an empty one included.
    assert_eq!(datagram_end(330, 330, 0), 330);
    assert_eq!(datagram_end(330, 0, 0), 330);
    assert_eq!(datagram_end(0, 0, 0), 0);
}

fn queue_of(datagrams: &[(SocketAddr, usize)]) -> SendQueue {
    let mut queue = SendQueue::new(MAX_DATAGRAM);
    for (i, &(destination, len)) in datagrams.iter().enumerate() {
        queue.slot()[..len].fill(i as u8);
        queue.commit(Transmit { destination, len });
    }
    queue
}

#[test]
fn the_queue_hands_out_its_datagrams_in_order_and_in_trains() {
    let (a, b) = (addr(1), addr(2));
    let plan = [(a, 1000), (a, 1000), (a, 400), (b, 1000), (b, 0)];
    let mut queue = queue_of(&plan);
    // A slot taken and released leaves nothing behind.
    let _ = queue.slot();
    queue.release_slot();
    let one_by_one: Vec<(SocketAddr, Vec<u8>)> =
        queue.datagrams().map(|(to, d)| (to, d.to_vec())).collect();
    assert_eq!(one_by_one.len(), plan.len());
    for (i, ((to, datagram), &(planned_to, len))) in one_by_one.iter().zip(&plan).enumerate() {
        assert_eq!((*to, datagram.len()), (planned_to, len));
        assert!(datagram.iter().all(|&byte| byte == i as u8), "datagram {i}");
    }
    let mut cursor = TrainCursor::default();
    let mut trains = Vec::new();
    while let Some((to, contents, train)) = queue.next_train(&mut cursor, 64) {
        assert_eq!(contents.len(), train.bytes);
        trains.push((to, train.count, contents.to_vec()));
    }
    let concatenated: Vec<u8> = trains.iter().flat_map(|t| t.2.clone()).collect();
    let expected: Vec<u8> = one_by_one.iter().flat_map(|d| d.1.clone()).collect();
    assert_eq!(
        concatenated, expected,
        "the trains carry the queue in order"
    );
    let shape: Vec<(SocketAddr, usize)> = trains.iter().map(|t| (t.0, t.1)).collect();
    assert_eq!(shape, [(a, 3), (b, 1), (b, 1)]);
    queue.clear();
    assert!(queue.is_empty());
    assert_eq!(queue.datagrams().count(), 0);
}

#[test]
fn a_full_queue_asks_to_be_sent() {
    let mut queue = SendQueue::new(MAX_DATAGRAM);
    for i in 1..=MAX_BATCH {
        let _ = queue.slot();
        let full = queue.commit(Transmit {
            destination: addr(1),
            len: 10,
        });
        assert_eq!(full, i == MAX_BATCH);
    }
}

/// A receive call that fills the buffers from `calls` in turn, each entry a list of buffers
/// given as (sender port, datagram lengths: several make a GRO train), then finds nothing.
fn fake_recv(
    calls: Vec<Vec<(u16, Vec<usize>)>>,
) -> impl FnMut(&mut [IoSliceMut<'_>], &mut [RecvMeta]) -> io::Result<usize> {
    let mut calls = calls.into_iter();
    let mut byte = 0u8;
    move |bufs, metas| {
        let Some(buffers) = calls.next() else {
            return Err(io::ErrorKind::WouldBlock.into());
        };
        for (i, (port, lengths)) in buffers.iter().enumerate() {
            let mut len = 0;
            for &l in lengths {
                byte = byte.wrapping_add(1);
                bufs[i][len..len + l].fill(byte);
                len += l;
            }
            let mut meta = RecvMeta::default();
            meta.addr = addr(*port);
            meta.len = len;
            meta.stride = if lengths.len() > 1 { lengths[0] } else { len };
            metas[i] = meta;
        }
        Ok(buffers.len())
    }
}

#[test]
fn received_trains_are_split_and_handed_out_in_groups_in_order() {
    let train: Vec<usize> = [vec![100; 20], vec![30]].concat();
    let calls = vec![
        vec![(1, train), (2, vec![50]), (3, vec![0])],
        vec![(4, vec![70, 70])],
    ];
    let mut area = RecvArea::default();
    let mut stats = IoStats::default();
    let mut recv = fake_recv(calls);
    let mut seen = Vec::new();
    let mut groups = Vec::new();
    let mut take = |max| {
        area.recv_batch(max, &mut stats, &mut recv, |group| {
            groups.push(group.len());
            for (from, datagram) in group.iter() {
                seen.push((from.port(), datagram.len(), datagram.first().copied()));
            }
        })
    };
    assert_eq!(take(5), 5, "a burst bound stops mid-train");
    assert!(take(1000) > 0);
    assert_eq!(take(1000), 0, "nothing is left");
    let lengths: Vec<(u16, usize)> = seen.iter().map(|s| (s.0, s.1)).collect();
    let expected: Vec<(u16, usize)> = [vec![(1, 100); 20], vec![(1, 30), (2, 50), (3, 0)]]
        .concat()
        .into_iter()
        .chain([(4, 70), (4, 70)])
        .collect();
    assert_eq!(lengths, expected);
    let firsts: Vec<Option<u8>> = seen.iter().filter(|s| s.1 > 0).map(|s| s.2).collect();
    // The empty datagram took number 23.
    let numbered: Vec<Option<u8>> = (1..=22).chain(24..=25).map(Some).collect();
    assert_eq!(firsts, numbered, "every datagram whole and in order");
    assert!(groups.iter().all(|&n| n <= RECV_GROUP));
    assert_eq!(groups[0], 5);
    assert_eq!(stats.received, 25);
    assert_eq!(stats.recv_calls, 2);
    assert_eq!(stats.largest_recv, 23);
}

#[test]
fn a_slot_holds_a_protected_segment_and_any_handshake_at_every_mtu() {
    use kcpq_core::crypto::DATA_OVERHEAD;
    use kcpq_core::crypto::handshake::MAX_HANDSHAKE_LEN;
    assert_eq!(max_datagram(1367), 1431, "KCPQ's default datagram bound");
    for mtu in kcpq_core::kcp::MIN_MTU..=9000 {
        let slot = max_datagram(mtu);
        assert!(
            slot >= mtu + DATA_OVERHEAD,
            "a protected segment at MTU {mtu}"
        );
        assert!(slot >= MAX_HANDSHAKE_LEN, "a handshake at MTU {mtu}");
    }
}
