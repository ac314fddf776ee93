//! Checks of the simulated network the simulation tests rely on.

mod sim;

use std::net::SocketAddr;
use std::time::Duration;

use kcpq_core::Instant;
use sim::net::{LinkConfig, SimNet};

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

fn drain(net: &mut SimNet) -> Vec<(Instant, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some(at) = net.next_delivery() {
        let d = net.deliver_due(at).expect("due at its own time");
        out.push((at, d.data));
    }
    out
}

#[test]
fn perfect_link_delivers_everything_in_order_after_the_delay() {
    let mut net = SimNet::new(1, LinkConfig::perfect());
    for i in 0..100u8 {
        net.send(Instant::from_millis(u64::from(i)), addr(1), addr(2), &[i]);
    }
    assert_eq!(
        net.deliver_due(Instant::ZERO),
        None,
        "nothing arrives before the delay"
    );
    let got = drain(&mut net);
    assert_eq!(got.len(), 100);
    for (i, (at, data)) in got.iter().enumerate() {
        assert_eq!(data, &[i as u8]);
        assert_eq!(
            *at,
            Instant::from_millis(i as u64) + Duration::from_millis(1)
        );
    }
}

#[test]
fn loss_duplication_and_reordering_happen_at_about_the_configured_rates() {
    let mut net = SimNet::new(
        7,
        LinkConfig {
            queue_limit: 100_000,
            ..LinkConfig::lossy(10)
        },
    );
    for i in 0..20_000u32 {
        net.send(
            Instant::from_micros(u64::from(i) * 100),
            addr(1),
            addr(2),
            &i.to_le_bytes(),
        );
    }
    let stats = net.stats();
    assert!((1_700..2_300).contains(&stats.lost), "{stats:?}");
    assert!((120..280).contains(&stats.duplicated), "{stats:?}");
    let got = drain(&mut net);
    assert_eq!(got.len() as u64, 20_000 - stats.lost + stats.duplicated);
    let seqs: Vec<u32> = got
        .iter()
        .map(|(_, d)| u32::from_le_bytes(d[..4].try_into().unwrap()))
        .collect();
    assert!(
        seqs.windows(2).any(|w| w[1] < w[0]),
        "jitter reorders datagrams"
    );
}

#[test]
fn same_seed_same_fate_other_seed_other_fate() {
    let run = |seed| {
        let mut net = SimNet::new(seed, LinkConfig::lossy(20));
        for i in 0..500u32 {
            net.send(
                Instant::from_millis(u64::from(i)),
                addr(1),
                addr(2),
                &i.to_le_bytes(),
            );
        }
        drain(&mut net)
    };
    assert_eq!(run(3), run(3));
    assert_ne!(run(3), run(4));
}

#[test]
fn partitions_cut_both_ways_until_healed() {
    let mut net = SimNet::new(1, LinkConfig::perfect());
    net.partition(addr(1), addr(2));
    net.send(Instant::ZERO, addr(1), addr(2), b"a");
    net.send(Instant::ZERO, addr(2), addr(1), b"b");
    net.send(Instant::ZERO, addr(1), addr(3), b"c");
    assert_eq!(net.stats().partitioned, 2);
    net.heal(addr(2), addr(1));
    net.send(Instant::ZERO, addr(1), addr(2), b"d");
    let got: Vec<_> = drain(&mut net).into_iter().map(|(_, d)| d).collect();
    assert_eq!(got, [b"c".to_vec(), b"d".to_vec()]);
}

#[test]
fn a_full_queue_drops_new_datagrams() {
    let config = LinkConfig {
        queue_limit: 3,
        ..LinkConfig::perfect()
    };
    let mut net = SimNet::new(1, config);
    for i in 0..5u8 {
        net.send(Instant::ZERO, addr(1), addr(2), &[i]);
    }
    net.send(
        Instant::ZERO,
        addr(2),
        addr(1),
        b"other direction has its own queue",
    );
    assert_eq!(net.stats().queue_full, 2);
    assert_eq!(net.in_flight(), 4);
    assert_eq!(drain(&mut net).len(), 4);
}
