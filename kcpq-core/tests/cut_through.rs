//! Cut-through delivery of large messages (protocol version 3), in the simulator: messages are
//! forwarded as their bytes arrive and come out whole, in order, on clean and lossy links; a
//! publisher that stalls or dies mid-message gets it aborted for its subscribers, who never see a
//! torn message and whose streams carry on. Seeded and reproducible (`KCPQ_SEED=n`).

mod sim;

use std::time::Duration;

use kcpq_core::client::{ClientConfig, ClientEvent};
use kcpq_core::kcp::KcpConfig;
use kcpq_core::server::ServerConfig;
use sim::net::LinkConfig;
use sim::world::{SERVER, World};
use sim::{messages_of, seeds};

/// A payload whose every byte depends on its number and position, so a torn, shifted or mixed
/// message cannot pass for another.
fn payload(n: u8, len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ n.wrapping_mul(97) ^ (i >> 8) as u8)
        .collect()
}

fn named(name: &str) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.name = name.to_owned();
    config
}

/// A publisher whose KCP sends 16 segments per round trip, so that a large message is still on
/// its way when the test cuts the link.
fn slow_publisher(name: &str) -> ClientConfig {
    let mut config = named(name);
    let mut kcp = KcpConfig::fast();
    kcp.send_window = 16;
    config.kcp = kcp;
    config
}

/// Connects the clients and subscribes `sub` to `subject`; returns the subscription id.
fn setup(world: &mut World, clients: &[usize], sub: usize, subject: &str) -> u32 {
    world.run_until(Duration::from_secs(10), |w| {
        clients.iter().all(|&c| w.connected(c))
    });
    let sid = world.peers[sub].client.subscribe(subject, None).unwrap();
    world.drain();
    world.run_until(Duration::from_secs(10), |w| {
        w.peers[sub].events.contains(&ClientEvent::Subscribed(sid))
    });
    sid
}

#[test]
fn large_and_small_messages_arrive_whole_and_in_order() {
    for seed in seeds(12) {
        let link = if seed % 2 == 0 {
            LinkConfig::perfect()
        } else {
            LinkConfig::lossy(3)
        };
        let mut world = World::new(seed, link, ServerConfig::default());
        let publisher = world.add_client(named("pub"));
        let a = world.add_client(named("a"));
        let b = world.add_client(named("b"));
        let sid_a = setup(&mut world, &[publisher, a, b], a, "video.>");
        let sid_b = setup(&mut world, &[publisher, a, b], b, "video.cam");
        let sizes = [100_000, 10, 300_000, 17_000, 0, 65_536, 1];
        let sent: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(n, &len)| payload(n as u8, len))
            .collect();
        for p in &sent {
            world.peers[publisher]
                .client
                .publish("video.cam", None, None, p)
                .unwrap();
        }
        world.drain();
        world.run_until(Duration::from_secs(60), |w| {
            messages_of(&w.peers[a].events, sid_a).len() == sent.len()
                && messages_of(&w.peers[b].events, sid_b).len() == sent.len()
        });
        assert_eq!(
            messages_of(&world.peers[a].events, sid_a),
            sent,
            "seed {seed}"
        );
        assert_eq!(
            messages_of(&world.peers[b].events, sid_b),
            sent,
            "seed {seed}"
        );
        let stats = world.server.stats();
        // Four of the payloads are at least 16 KiB; on a lossy link a message whose first
        // datagrams are retransmitted may still arrive whole before its head could be routed.
        assert!(stats.cut_through >= 1, "seed {seed}: {stats:?}");
        if seed % 2 == 0 {
            assert_eq!(stats.cut_through, 4, "seed {seed}");
        }
        assert_eq!(stats.cut_through_aborted, 0, "seed {seed}");
        assert_eq!(stats.msgs_out, 2 * sent.len() as u64, "seed {seed}");
    }
}

/// Starts a 200 KB message from `publisher` and cuts its link once the server has routed it,
/// with most of its bytes still to come.
fn publish_and_cut(world: &mut World, publisher: usize, big: &[u8]) {
    world.peers[publisher]
        .client
        .publish("video.cam", None, None, big)
        .unwrap();
    world.drain();
    world.run_until(Duration::from_secs(5), |w| {
        w.server.stats().cut_through == 1
    });
    let addr = world.peers[publisher].addr;
    world.net.partition(addr, SERVER);
}

#[test]
fn a_stalled_publisher_is_aborted_and_its_message_comes_whole_once_it_resumes() {
    for seed in seeds(8) {
        let mut world = World::new(seed, LinkConfig::perfect(), ServerConfig::default());
        let publisher = world.add_client(slow_publisher("pub"));
        let other = world.add_client(named("other"));
        let sub = world.add_client(named("sub"));
        let sid = setup(&mut world, &[publisher, other, sub], sub, "video.>");
        let big = payload(7, 200_000);
        publish_and_cut(&mut world, publisher, &big);
        // Meanwhile another publisher's messages reach the subscriber between the parts.
        world.peers[other]
            .client
            .publish("video.meta", None, None, b"meta")
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(1), |w| {
            messages_of(&w.peers[sub].events, sid) == [b"meta".to_vec()]
        });
        let stall = ServerConfig::default().cut_through.stall_timeout;
        world.run_until(stall + Duration::from_millis(100), |w| {
            w.peers[sub].client.stats().msgs_aborted == 1
        });
        assert_eq!(world.server.stats().cut_through_aborted, 1, "seed {seed}");
        assert_eq!(
            messages_of(&world.peers[sub].events, sid),
            [b"meta".to_vec()],
            "seed {seed}: no torn message"
        );
        // The publisher comes back: its retransmissions complete the PUB, which the
        // subscriber now gets whole, once.
        world.net.heal(world.peers[publisher].addr, SERVER);
        world.run_until(Duration::from_secs(30), |w| {
            messages_of(&w.peers[sub].events, sid).len() == 2
        });
        assert_eq!(
            messages_of(&world.peers[sub].events, sid),
            [b"meta".to_vec(), big.clone()],
            "seed {seed}"
        );
        world.run_for(Duration::from_secs(2));
        assert_eq!(messages_of(&world.peers[sub].events, sid).len(), 2);
        assert_eq!(world.peers[sub].client.stats().msgs_aborted, 1);
    }
}

#[test]
fn a_publisher_that_dies_mid_message_leaves_no_trace_and_the_stream_carries_on() {
    for seed in seeds(8) {
        let mut world = World::new(seed, LinkConfig::perfect(), ServerConfig::default());
        let publisher = world.add_client(slow_publisher("pub"));
        let other = world.add_client(named("other"));
        let sub = world.add_client(named("sub"));
        let sid = setup(&mut world, &[publisher, other, sub], sub, "video.>");
        publish_and_cut(&mut world, publisher, &payload(3, 200_000));
        world.vanish(publisher);
        world.run_until(Duration::from_secs(2), |w| {
            w.peers[sub].client.stats().msgs_aborted == 1
        });
        // Another large message goes cut-through on the same subscriber stream, whole.
        let next = payload(4, 50_000);
        world.peers[other]
            .client
            .publish("video.other", None, None, &next)
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(5), |w| {
            !messages_of(&w.peers[sub].events, sid).is_empty()
        });
        assert_eq!(
            messages_of(&world.peers[sub].events, sid),
            [next],
            "seed {seed}"
        );
        assert_eq!(world.server.stats().cut_through, 2, "seed {seed}");
        // The server finds the publisher dead later; nothing more reaches the subscriber.
        world.run_until(Duration::from_secs(60), |w| w.server.session_count() == 2);
        world.run_for(Duration::from_secs(1));
        assert_eq!(messages_of(&world.peers[sub].events, sid).len(), 1);
    }
}

#[test]
fn cut_through_can_be_turned_off() {
    let mut config = ServerConfig::default();
    config.cut_through.min_payload = None;
    let mut world = World::new(1, LinkConfig::perfect(), config);
    let publisher = world.add_client(named("pub"));
    let sub = world.add_client(named("sub"));
    let sid = setup(&mut world, &[publisher, sub], sub, "video.>");
    let big = payload(1, 100_000);
    world.peers[publisher]
        .client
        .publish("video.cam", None, None, &big)
        .unwrap();
    world.drain();
    world.run_until(Duration::from_secs(5), |w| {
        !messages_of(&w.peers[sub].events, sid).is_empty()
    });
    assert_eq!(messages_of(&world.peers[sub].events, sid), [big]);
    assert_eq!(world.server.stats().cut_through, 0);
}
