//! Clients that vanish, in the simulator: a client that closes as its process ends, one killed
//! without a word, a restarted client taking its name back, a second instance taking a name
//! over, and eviction of silent sessions when the server is full. Seeded and reproducible
//! (`KCPQ_SEED=n` runs one seed).

mod sim;

use std::time::Duration;

use kcpq_core::CloseReason;
use kcpq_core::client::{ClientConfig, ClientEvent};
use kcpq_core::proto::ErrorCode;
use kcpq_core::server::{ServerConfig, ServerEvent};
use sim::net::LinkConfig;
use sim::world::World;
use sim::{messages_of, seeds};

/// The longest a datagram a client sent before it vanished may still be on its way.
const IN_FLIGHT: Duration = Duration::from_millis(20);

fn named(name: &str) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.name = name.to_owned();
    config
}

fn closed_with(world: &World, name: &str, reason: &CloseReason) -> bool {
    world.server_events.iter().any(|e| {
        matches!(e, ServerEvent::SessionClosed { name: n, reason: r, .. } if n == name && r == reason)
    })
}

/// A few seconds of virtual time drawn from the seed, so that each run vanishes at another
/// phase of the ping cycle.
fn phase(seed: u64) -> Duration {
    Duration::from_millis(seed.wrapping_mul(7919) % 15_000)
}

#[test]
fn a_client_that_closes_as_it_vanishes_is_freed_within_a_round_trip() {
    for seed in seeds(50) {
        let mut world = World::new(seed, LinkConfig::perfect(), ServerConfig::default());
        let clients: Vec<usize> = (0..3)
            .map(|i| world.add_client(named(&format!("c{i}"))))
            .collect();
        world.run_until(Duration::from_secs(10), |w| {
            clients.iter().all(|&c| w.connected(c))
        });
        world.run_for(phase(seed));
        // What an adapter does when the last handle is dropped: close, send, and be gone.
        world.peers[1].client.close(world.now);
        world.drain();
        world.vanish(1);
        let closed_at = world.now;
        world.run_until(Duration::from_secs(1), |w| w.server.session_count() == 2);
        // One-way delay 1 ms: the CLOSE arrives within a round trip.
        assert!(
            world.now - closed_at <= Duration::from_millis(5),
            "seed {seed}: freed after {:?}",
            world.now - closed_at
        );
        assert!(world.server_events.iter().any(|e| matches!(
            e,
            ServerEvent::SessionClosed { name, reason: CloseReason::PeerClosed(_), .. } if name == "c1"
        )));
    }
}

#[test]
fn killed_clients_are_found_dead_within_about_two_ping_intervals() {
    // Default ping interval (15 s): silence limit 2 x 15 s + 7.5 s = 37.5 s, on a lossy link.
    let limit = ServerConfig::default().silence_limit(Duration::from_secs(15));
    assert_eq!(limit, Duration::from_millis(37_500));
    for seed in seeds(40) {
        let mut world = World::new(seed, LinkConfig::lossy(3), ServerConfig::default());
        let a = world.add_client(named("a"));
        let b = world.add_client(named("b"));
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(a) && w.connected(b)
        });
        world.run_for(Duration::from_secs(20) + phase(seed));
        world.vanish(a);
        let killed_at = world.now;
        world.run_until(Duration::from_secs(60), |w| w.server.session_count() == 1);
        // Datagrams it sent just before it died may still arrive (one way: 10 ms +- 5 ms).
        let found = world.now - killed_at;
        assert!(
            found <= limit + IN_FLIGHT,
            "seed {seed}: found dead after {found:?}"
        );
        assert!(
            closed_with(&world, "a", &CloseReason::Silence),
            "seed {seed}"
        );
        assert_eq!(world.server.stats().sessions_silent, 1, "seed {seed}");
        // The live client is untouched.
        assert!(world.server.sessions().iter().any(|s| s.name == "b"));
    }
}

#[test]
fn live_clients_on_a_lossy_link_are_never_declared_dead() {
    for seed in seeds(10) {
        let mut world = World::new(seed, LinkConfig::lossy(10), ServerConfig::default());
        let mut fast = named("fast");
        fast.ping_interval = Duration::from_secs(1);
        let clients = [world.add_client(named("idle")), world.add_client(fast)];
        world.run_until(Duration::from_secs(30), |w| {
            clients.iter().all(|&c| w.connected(c))
        });
        world.run_for(Duration::from_secs(600));
        let stats = world.server.stats();
        assert_eq!(
            (stats.sessions, stats.sessions_silent),
            (2, 0),
            "seed {seed}"
        );
        for c in clients {
            assert!(
                !world.peers[c]
                    .events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::Disconnected(_))),
                "seed {seed}: client {c} lost its session"
            );
        }
    }
}

#[test]
fn a_client_that_pings_often_is_found_dead_sooner() {
    // The client announces 2 s in CONNECT: 2 x 2 s + 5 s margin.
    let limit = ServerConfig::default().silence_limit(Duration::from_secs(2));
    assert_eq!(limit, Duration::from_secs(9));
    for seed in seeds(20) {
        let mut world = World::new(seed, LinkConfig::lossy(2), ServerConfig::default());
        let mut config = named("sensor");
        config.ping_interval = Duration::from_secs(2);
        let c = world.add_client(config);
        world.run_until(Duration::from_secs(30), |w| w.connected(c));
        world.run_for(phase(seed));
        world.vanish(c);
        let killed_at = world.now;
        world.run_until(Duration::from_secs(30), |w| w.server.session_count() == 0);
        let found = world.now - killed_at;
        assert!(
            found <= limit + IN_FLIGHT,
            "seed {seed}: found dead after {found:?}"
        );
    }
}

#[test]
fn a_killed_client_restarted_at_once_takes_its_name_back() {
    for seed in seeds(50) {
        let mut world = World::new(seed, LinkConfig::lossy(2), ServerConfig::default());
        let first = world.add_client(named("cam-7"));
        world.run_until(Duration::from_secs(30), |w| w.connected(first));
        world.run_for(phase(seed));
        world.vanish(first);
        // The restarted process: a new instance token, a new port, the same name.
        let restarted_at = world.now;
        let second = world.add_client(named("cam-7"));
        world.run_until(Duration::from_secs(5), |w| w.connected(second));
        assert!(
            world.now - restarted_at < Duration::from_secs(1),
            "seed {seed}: connected after {:?}",
            world.now - restarted_at
        );
        let stats = world.server.stats();
        assert_eq!(
            (stats.sessions, stats.sessions_replaced),
            (1, 1),
            "seed {seed}"
        );
        assert!(
            closed_with(&world, "cam-7", &CloseReason::Replaced),
            "seed {seed}"
        );
        // The new session works: it receives what is published to it.
        let sid = world.peers[second]
            .client
            .subscribe("cam.7.cmd", None)
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(10), |w| {
            w.peers[second]
                .events
                .contains(&ClientEvent::Subscribed(sid))
        });
        world
            .server
            .publish("cam.7.cmd", None, None, b"go")
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(10), |w| {
            !messages_of(&w.peers[second].events, sid).is_empty()
        });
    }
}

#[test]
fn a_live_client_whose_name_is_taken_over_is_told_and_does_not_come_back() {
    for seed in seeds(30) {
        let mut world = World::new(seed, LinkConfig::lossy(2), ServerConfig::default());
        let old = world.add_client(named("svc"));
        world.run_until(Duration::from_secs(30), |w| w.connected(old));
        let new = world.add_client(named("svc"));
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(new) && w.peers[old].client.is_closed()
        });
        let events = &world.peers[old].events;
        assert!(
            events.iter().any(|e| matches!(
                e,
                ClientEvent::ServerError(err) if err.code == ErrorCode::Replaced
            )),
            "seed {seed}: {events:?}"
        );
        assert!(events.contains(&ClientEvent::Disconnected(CloseReason::Replaced)));
        assert!(events.contains(&ClientEvent::Closed));
        // The old instance does not reconnect and take the name back.
        world.run_for(Duration::from_secs(60));
        let sessions = world.server.sessions();
        assert_eq!(sessions.len(), 1, "seed {seed}");
        assert_eq!(world.server.stats().sessions_replaced, 1, "seed {seed}");
        assert!(
            !world.peers[new]
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::Disconnected(_))),
            "seed {seed}: the new instance lost its session"
        );
    }
}

#[test]
fn a_full_server_evicts_the_longest_silent_session_that_missed_a_ping() {
    for seed in seeds(30) {
        let mut config = ServerConfig::default();
        config.max_sessions = 4;
        let mut world = World::new(seed, LinkConfig::lossy(1), config);
        let first: Vec<usize> = (0..4)
            .map(|i| world.add_client(named(&format!("c{i}"))))
            .collect();
        world.run_until(Duration::from_secs(30), |w| {
            first.iter().all(|&c| w.connected(c))
        });
        world.run_for(phase(seed));
        // c1 and c3 speak a last time (so the server heard them at a known moment), then die;
        // the others live on.
        for dying in [first[1], first[3]] {
            world.peers[dying]
                .client
                .publish("x", None, None, b"bye")
                .unwrap();
        }
        world.drain();
        world.run_for(Duration::from_millis(100));
        world.vanish(first[1]);
        world.vanish(first[3]);
        let vanished = world.now;
        // Within one and a half ping intervals nobody qualifies: a newcomer is refused.
        let early = world.add_client(named("early"));
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[early].client.is_closed()
        });
        assert!(!world.connected(early), "seed {seed}");
        assert_eq!(world.server.stats().drops.session_limit, 1, "seed {seed}");
        // Past that (and before the 37.5 s silence limit), two newcomers evict c1 and c3, the
        // one last heard earliest first.
        let refused_after = world.now - vanished;
        assert!(
            refused_after < Duration::from_secs(5),
            "seed {seed}: {refused_after:?}"
        );
        world.run_for(vanished + Duration::from_secs(23) - world.now);
        assert_eq!(world.server.session_count(), 4, "seed {seed}");
        let heard = |name: &str| {
            let sessions = world.server.sessions();
            sessions.iter().find(|s| s.name == name).unwrap().last_heard
        };
        let (first_out, second_out) = if heard("c1") <= heard("c3") {
            ("c1", "c3")
        } else {
            ("c3", "c1")
        };
        let late = world.add_client(named("late"));
        world.run_until(Duration::from_secs(5), |w| w.connected(late));
        assert!(
            closed_with(&world, first_out, &CloseReason::Evicted),
            "seed {seed}"
        );
        assert!(
            !closed_with(&world, second_out, &CloseReason::Evicted),
            "seed {seed}"
        );
        let later = world.add_client(named("later"));
        world.run_until(Duration::from_secs(5), |w| w.connected(later));
        assert!(
            closed_with(&world, second_out, &CloseReason::Evicted),
            "seed {seed}"
        );
        // Only live sessions are left: the next newcomer is refused again.
        let last = world.add_client(named("last"));
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[last].client.is_closed()
        });
        assert!(!world.connected(last), "seed {seed}");
        let stats = world.server.stats();
        assert_eq!(
            (stats.sessions_evicted, stats.sessions),
            (2, 4),
            "seed {seed}"
        );
        for live in [first[0], first[2]] {
            assert!(
                !world.peers[live]
                    .events
                    .iter()
                    .any(|e| matches!(e, ClientEvent::Disconnected(_))),
                "seed {seed}: a live client was disturbed"
            );
        }
    }
}

#[test]
fn an_idle_clients_keepalive_costs_one_datagram_each_way_and_keeps_both_sides_alive() {
    for seed in seeds(5) {
        let mut world = World::new(seed, LinkConfig::perfect(), ServerConfig::default());
        let mut config = named("idle");
        config.ping_interval = Duration::from_secs(1);
        let client = world.add_client(config);
        world.run_until(Duration::from_secs(10), |w| w.connected(client));
        world.run_for(Duration::from_secs(2));
        let (server_before, client_before) = (
            world.server.stats(),
            world.peers[client].client.stats().clone(),
        );
        world.run_for(Duration::from_secs(60));
        let server = world.server.stats();
        let keepalives = server.keepalives - server_before.keepalives;
        let context = format!("seed {seed}");
        assert!((59..=61).contains(&keepalives), "{context}: {keepalives}");
        // The PING in, its acknowledgement out: no PONG, and so no acknowledgement of one.
        assert_eq!(
            server.datagrams_in - server_before.datagrams_in,
            keepalives,
            "{context}"
        );
        assert_eq!(
            server.datagrams_out - server_before.datagrams_out,
            keepalives,
            "{context}"
        );
        let client_stats = world.peers[client].client.stats();
        assert_eq!(
            client_stats.reconnects, client_before.reconnects,
            "{context}"
        );
        // Both sides still hold the session: each heard the other often enough.
        assert!(world.connected(client), "{context}");
        assert_eq!(world.server.session_count(), 1, "{context}");
        assert!(
            !world.peers[client]
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::Disconnected(_))),
            "{context}"
        );
    }
}
