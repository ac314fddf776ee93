//! Forward error correction end to end, in the simulator: with FEC on, everything arrives
//! exactly once and in order at 1-20 % loss with reordering and duplication, lost datagrams are
//! rebuilt from parity, and KCP retransmits less than without FEC on the same seeds. Seeded and
//! reproducible (`KCPQ_SEED=n`).

mod sim;

use std::time::Duration;

use kcpq_core::client::{ClientConfig, ClientEvent};
use kcpq_core::fec::{FecConfig, FecMode, FecStats};
use kcpq_core::server::ServerConfig;
use sim::net::LinkConfig;
use sim::world::World;
use sim::{messages_of, seeds};

fn with_fec(mode: FecMode) -> (ServerConfig, ClientConfig) {
    let mut server = ServerConfig::default();
    server.fec = FecConfig::with_mode(mode);
    let mut client = ClientConfig::default();
    client.fec = FecConfig::with_mode(mode);
    (server, client)
}

/// A message whose bytes depend on its number: 40 to 1 240 bytes, one datagram each.
fn message(i: u32) -> Vec<u8> {
    let len = 40 + (i as usize * 797) % 1200;
    (0..len)
        .map(|k| (k as u8).wrapping_mul(13) ^ (i as u8))
        .collect()
}

/// What one run did.
struct Outcome {
    retransmissions: u64,
    /// Publish-to-delivery times, sorted.
    latencies: Vec<Duration>,
    server_fec: FecStats,
    subscriber_fec: FecStats,
}

/// A world with FEC in `mode` over `link`: a publisher and a subscriber to `filter`, both
/// connected and subscribed. Returns the world, the two peers and the subscription.
fn pub_sub(seed: u64, link: LinkConfig, mode: FecMode, filter: &str) -> (World, usize, usize, u32) {
    let (server, client) = with_fec(mode);
    let mut world = World::new(seed, link, server);
    let publisher = world.add_client(client.clone());
    let subscriber = world.add_client(client);
    world.run_until(Duration::from_secs(30), |w| {
        w.connected(publisher) && w.connected(subscriber)
    });
    let sid = world.peers[subscriber]
        .client
        .subscribe(filter, None)
        .unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[subscriber]
            .events
            .contains(&ClientEvent::Subscribed(sid))
    });
    (world, publisher, subscriber, sid)
}

/// A publisher and a subscriber over `link`: `count` messages, one every 15 ms (a sensor, a
/// request stream: FEC's hard case, groups close by their deadline), all of which must arrive
/// exactly once and in order.
fn run(seed: u64, link: LinkConfig, mode: FecMode, count: u32) -> Outcome {
    let (mut world, publisher, subscriber, sid) = pub_sub(seed, link, mode, "fec.>");
    let mut sent_at = Vec::new();
    let mut latencies = Vec::new();
    let limit = world.now + Duration::from_secs(120);
    let mut next_publish = world.now;
    while latencies.len() < count as usize {
        if sent_at.len() < count as usize && world.now >= next_publish {
            let i = sent_at.len() as u32;
            world.peers[publisher]
                .client
                .publish("fec.data", None, None, &message(i))
                .unwrap();
            world.drain();
            sent_at.push(world.now);
            next_publish = world.now + Duration::from_millis(15);
        }
        let step_limit = if sent_at.len() < count as usize {
            next_publish
        } else {
            limit
        };
        if !world.step(step_limit) {
            assert!(
                world.now < limit,
                "seed {seed} {mode}: not delivered in time"
            );
            world.now = step_limit;
        }
        let arrived = messages_of(&world.peers[subscriber].events, sid).len();
        while latencies.len() < arrived.min(sent_at.len()) {
            latencies.push(world.now - sent_at[latencies.len()]);
        }
    }
    latencies.sort();
    let got = messages_of(&world.peers[subscriber].events, sid);
    let expected: Vec<Vec<u8>> = (0..count).map(message).collect();
    assert!(
        got == expected,
        "seed {seed} {mode}: not exactly once in order"
    );
    let retransmissions = world
        .server
        .sessions()
        .iter()
        .map(|s| s.transport.kcp.retransmits_timeout + s.transport.kcp.retransmits_fast)
        .sum();
    Outcome {
        retransmissions,
        latencies,
        server_fec: world.server.stats().fec,
        subscriber_fec: world.peers[subscriber].client.stats().fec,
    }
}

#[test]
fn fec_delivers_exactly_once_in_order_and_retransmits_less() {
    for loss in [1, 5, 10, 20] {
        for mode in [
            FecMode::Auto,
            FecMode::Fixed {
                data: 10,
                parity: 3,
            },
        ] {
            let (mut with, mut without, mut recovered) = (0, 0, 0);
            let (mut lat_on, mut lat_off) = (Vec::new(), Vec::new());
            for seed in seeds(4) {
                let link = LinkConfig::lossy(loss);
                let on = run(seed, link, mode, 300);
                let off = run(seed, link, FecMode::Off, 300);
                lat_on.extend(on.latencies.iter().copied());
                lat_off.extend(off.latencies.iter().copied());
                assert_eq!(
                    on.server_fec.sessions, 2,
                    "seed {seed}: both sessions use FEC"
                );
                assert!(on.subscriber_fec.sessions == 1 && off.subscriber_fec.sessions == 0);
                assert_eq!(off.server_fec, FecStats::default());
                with += on.retransmissions;
                without += off.retransmissions;
                recovered += on.server_fec.recovered + on.subscriber_fec.recovered;
            }
            lat_on.sort();
            lat_off.sort();
            let p99 = |l: &[Duration]| l[l.len() * 99 / 100];
            eprintln!(
                "loss {loss} % {mode}: retransmissions {with} with FEC, {without} without; \
                 {recovered} rebuilt; p99 {:?} with, {:?} without",
                p99(&lat_on),
                p99(&lat_off)
            );
            assert!(recovered > 0, "loss {loss} % {mode}: nothing rebuilt");
            assert!(
                with < without,
                "loss {loss} % {mode}: {with} retransmissions with FEC, {without} without"
            );
        }
    }
}

#[test]
fn a_peer_without_fec_still_talks_and_fec_stays_off() {
    // Client offers, server does not; then server offers, client does not.
    for (server_mode, client_mode) in [
        (FecMode::Off, FecMode::Auto),
        (FecMode::Fixed { data: 4, parity: 2 }, FecMode::Off),
    ] {
        let (server, _) = with_fec(server_mode);
        let (_, client) = with_fec(client_mode);
        let mut world = World::new(7, LinkConfig::lossy(5), server);
        let publisher = world.add_client(client.clone());
        let subscriber = world.add_client(client);
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(publisher) && w.connected(subscriber)
        });
        let sid = world.peers[subscriber].client.subscribe("x", None).unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[subscriber]
                .events
                .contains(&ClientEvent::Subscribed(sid))
        });
        for i in 0..50 {
            world.peers[publisher]
                .client
                .publish("x", None, None, &message(i))
                .unwrap();
        }
        world.drain();
        world.run_until(Duration::from_secs(60), |w| {
            messages_of(&w.peers[subscriber].events, sid).len() >= 50
        });
        let stats = world.server.stats().fec;
        assert_eq!(
            (stats.sessions, stats.parity_sent, stats.overhead_bytes),
            (0, 0, 0)
        );
        assert_eq!(
            world.peers[subscriber].client.stats().fec,
            FecStats::default()
        );
    }
}

#[test]
fn groups_straddling_rekeys_are_rebuilt_and_delivered() {
    // Keys change every 4 096 packets in each direction (the least allowed): 12 000 messages of
    // one datagram each cross two rekeys per direction, mid-group with near certainty.
    let mode = FecMode::Fixed {
        data: 10,
        parity: 3,
    };
    let (mut server, mut client) = with_fec(mode);
    server.responder.protection.rekey_after_packets = 4096;
    client.handshake.protection.rekey_after_packets = 4096;
    let mut world = World::new(3, LinkConfig::lossy(5), server);
    let publisher = world.add_client(client.clone());
    let subscriber = world.add_client(client);
    world.run_until(Duration::from_secs(30), |w| {
        w.connected(publisher) && w.connected(subscriber)
    });
    let sid = world.peers[subscriber].client.subscribe("r", None).unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[subscriber]
            .events
            .contains(&ClientEvent::Subscribed(sid))
    });
    let count = 12_000u32;
    for i in 0..count {
        world.peers[publisher]
            .client
            .publish("r", None, None, &message(i))
            .unwrap();
        if i % 20 == 19 {
            world.drain();
            world.run_for(Duration::from_millis(2));
        }
    }
    world.drain();
    world.run_until(Duration::from_secs(120), |w| {
        messages_of(&w.peers[subscriber].events, sid).len() >= count as usize
    });
    let got = messages_of(&world.peers[subscriber].events, sid);
    assert!(
        got == (0..count).map(message).collect::<Vec<_>>(),
        "exactly once, in order"
    );
    let sent: u64 = world
        .server
        .sessions()
        .iter()
        .map(|s| s.transport.kcp.datagrams_out)
        .max()
        .unwrap_or(0);
    assert!(sent > 2 * 4096, "{sent} datagrams: no rekey crossed");
    let fec = world.server.stats().fec;
    let rebuilt = fec.recovered + world.peers[subscriber].client.stats().fec.recovered;
    assert!(rebuilt > 100, "{rebuilt} rebuilt");
}

#[test]
fn the_server_wide_decoder_bound_holds_and_ended_sessions_free_their_decoders() {
    let mode = FecMode::Fixed {
        data: 10,
        parity: 3,
    };
    let (mut server, client) = with_fec(mode);
    server.fec_max_decoder_bytes = 6_000;
    let mut world = World::new(11, LinkConfig::lossy(10), server);
    let publishers: Vec<usize> = (0..3).map(|_| world.add_client(client.clone())).collect();
    world.run_until(Duration::from_secs(30), |w| {
        publishers.iter().all(|&p| w.connected(p))
    });
    let mut peak = 0;
    for round in 0..200u32 {
        for &p in &publishers {
            world.peers[p]
                .client
                .publish("nobody", None, None, &message(round))
                .unwrap();
        }
        world.drain();
        let limit = world.now + Duration::from_millis(5);
        while world.step(limit) {
            peak = peak.max(world.server.stats().fec.decoder_bytes);
        }
    }
    assert!(peak > 0, "the decoders held something");
    assert!(peak <= 6_000, "peak {peak} over the server-wide bound");
    // Sessions end with groups open: what their decoders held is released.
    for &p in &publishers {
        world.peers[p].client.close(world.now);
    }
    world.drain();
    world.run_until(Duration::from_secs(10), |w| w.server.session_count() == 0);
    let stats = world.server.stats().fec;
    assert_eq!((stats.sessions, stats.decoder_bytes), (0, 0));
    assert!(stats.recovered > 0);
}

/// Publish-to-delivery times of `count` 100 KB frames at 240 fps over a link of `loss` % loss
/// and 10 ms each way (no jitter, no duplication), in frame order.
fn frame_latencies(seed: u64, loss: u32, mode: FecMode, count: usize) -> Vec<Duration> {
    let link = LinkConfig {
        loss_ppm: loss * 10_000,
        duplicate_ppm: 0,
        delay: Duration::from_millis(10),
        jitter: Duration::ZERO,
        queue_limit: 100_000,
    };
    let (mut world, publisher, subscriber, sid) = pub_sub(seed, link, mode, "f");
    let frame = vec![0x5a; 100_000];
    let (mut sent_at, mut latencies) = (Vec::new(), Vec::new());
    let limit = world.now + Duration::from_secs(60);
    let mut next = world.now;
    while latencies.len() < count {
        if sent_at.len() < count && world.now >= next {
            let publisher = &mut world.peers[publisher].client;
            publisher.publish("f", None, None, &frame).unwrap();
            world.drain();
            sent_at.push(world.now);
            next = world.now + Duration::from_micros(4_167);
        }
        let step_limit = if sent_at.len() < count { next } else { limit };
        if !world.step(step_limit) {
            assert!(
                world.now < limit,
                "seed {seed}: frames not delivered in time"
            );
            world.now = step_limit;
        }
        let arrived = (world.peers[subscriber].events.iter())
            .filter(|e| matches!(e, ClientEvent::Message(m) if m.sid == sid))
            .count();
        while latencies.len() < arrived.min(sent_at.len()) {
            latencies.push(world.now - sent_at[latencies.len()]);
        }
    }
    latencies
}

/// `auto` protects a dense stream from its first frame: its start-up parity covers the two
/// round trips before the peer's first loss report (without it, a session's first frames
/// waited for retransmissions: 55.8 ms here), and reported loss rules after; so at 1 % loss
/// every frame is rebuilt from parity as with a fixed `10/3`, within the link's 20 ms plus one
/// frame interval.
#[test]
fn auto_protects_frames_like_a_fixed_ratio_from_the_first_frame() {
    for seed in seeds(2) {
        let auto = frame_latencies(seed, 1, FecMode::Auto, 240);
        let fixed = frame_latencies(
            seed,
            1,
            FecMode::Fixed {
                data: 10,
                parity: 3,
            },
            240,
        );
        let bound = Duration::from_millis(25);
        let worst = |l: &[Duration]| l.iter().copied().max().unwrap_or_default();
        assert!(
            worst(&fixed) <= bound,
            "seed {seed}: 10/3 {:?}",
            worst(&fixed)
        );
        assert!(
            worst(&auto) <= bound,
            "seed {seed}: auto {:?}",
            worst(&auto)
        );
    }
}
