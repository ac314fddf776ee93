//! The broker under faults, in the simulator: partitions that heal, server restarts, a
//! subscriber that never reads, many idle sessions, drain, and the owner's API. Seeded and
//! reproducible (`KCPQ_SEED=n` runs one seed).

mod sim;

use std::time::Duration;

use kcpq_core::CloseReason;
use kcpq_core::client::{ClientConfig, ClientEvent, SubscribeOptions};
use kcpq_core::queue::{OverflowPolicy, QueueLimits};
use kcpq_core::server::{ServerConfig, ServerEvent};
use sim::net::LinkConfig;
use sim::world::{SERVER, World};
use sim::{messages_of, seeds};

/// Liveness on a short scale, so faults are noticed within seconds of virtual time.
fn quick_server() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.ping_interval = Duration::from_secs(1);
    config.dead_after = Duration::from_secs(4);
    config
}

fn quick_client(name: &str) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.name = name.to_owned();
    config.ping_interval = Duration::from_secs(1);
    config.dead_after = Duration::from_secs(4);
    config
}

fn count(events: &[ClientEvent], pred: impl Fn(&ClientEvent) -> bool) -> usize {
    events.iter().filter(|e| pred(e)).count()
}

fn reconnected(events: &[ClientEvent]) -> usize {
    count(events, |e| matches!(e, ClientEvent::Reconnected { .. }))
}

/// Flushes client `i` and runs until the flush completes: everything it sent before (SUBs
/// restored after a reconnect included) has been processed by the server.
fn flush(world: &mut World, i: usize) {
    let id = world.peers[i]
        .client
        .flush(world.now, Duration::from_secs(30))
        .expect("flush");
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[i].events.contains(&ClientEvent::Flushed(id))
    });
}

fn publish_numbered(
    world: &mut World,
    publisher: usize,
    subject: &str,
    range: std::ops::Range<u32>,
) {
    for n in range {
        world.peers[publisher]
            .client
            .publish(subject, None, None, &n.to_be_bytes())
            .expect("publish");
    }
    world.drain();
}

fn numbers(payloads: &[Vec<u8>]) -> Vec<u32> {
    payloads
        .iter()
        .map(|p| u32::from_be_bytes(p[..4].try_into().expect("4-byte payloads")))
        .collect()
}

#[test]
fn partitions_heal_and_every_client_resumes_its_subscriptions() {
    for seed in seeds(20) {
        let mut world = World::new(seed, LinkConfig::lossy(2), quick_server());
        let publisher = world.add_client(quick_client("pub"));
        let cut = world.add_client(quick_client("cut"));
        let other = world.add_client(quick_client("other"));
        let sid_cut = world.peers[cut].client.subscribe("a.>", None).unwrap();
        let sid_other = world.peers[other].client.subscribe("a.b", None).unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            (0..3).all(|i| w.connected(i))
                && w.peers[cut]
                    .events
                    .contains(&ClientEvent::Subscribed(sid_cut))
                && w.peers[other]
                    .events
                    .contains(&ClientEvent::Subscribed(sid_other))
        });

        let cut_addr = world.peers[cut].addr;
        world.net.partition(cut_addr, SERVER);
        world.run_for(Duration::from_secs(10));
        world.net.heal(cut_addr, SERVER);
        world.run_until(Duration::from_secs(60), |w| {
            reconnected(&w.peers[cut].events) >= 1
        });
        assert!(
            world.peers[cut]
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::Disconnected(_))),
            "seed {seed}"
        );
        flush(&mut world, cut);
        let before_cut = messages_of(&world.peers[cut].events, sid_cut).len();
        let before_other = messages_of(&world.peers[other].events, sid_other).len();
        publish_numbered(&mut world, publisher, "a.b", 0..200);
        world.run_until(Duration::from_secs(60), |w| {
            messages_of(&w.peers[cut].events, sid_cut).len() == before_cut + 200
                && messages_of(&w.peers[other].events, sid_other).len() == before_other + 200
        });
        let got = numbers(&messages_of(&world.peers[cut].events, sid_cut)[before_cut..]);
        assert_eq!(got, (0..200).collect::<Vec<_>>(), "seed {seed}");
        assert_eq!(
            world.server.session_count(),
            3,
            "seed {seed}: the stale session is gone"
        );
    }
}

#[test]
fn a_restarted_server_gets_every_client_back_with_its_subscriptions() {
    for seed in seeds(20) {
        let mut world = World::new(seed, LinkConfig::lossy(1), quick_server());
        let publisher = world.add_client(quick_client("pub"));
        let subs: Vec<usize> = (0..4)
            .map(|i| world.add_client(quick_client(&format!("sub-{i}"))))
            .collect();
        let sids: Vec<u32> = subs
            .iter()
            .map(|&i| world.peers[i].client.subscribe("t.*", None).unwrap())
            .collect();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            subs.iter()
                .zip(&sids)
                .all(|(&i, &sid)| w.peers[i].events.contains(&ClientEvent::Subscribed(sid)))
        });

        world.restart_server(quick_server(), 1);
        world.run_until(Duration::from_secs(60), |w| {
            (0..5).all(|i| reconnected(&w.peers[i].events) >= 1)
        });
        for &i in &subs {
            assert!(
                world.peers[i].events.iter().any(|e| matches!(
                    e,
                    ClientEvent::Disconnected(CloseReason::StatelessReset | CloseReason::Silence)
                )),
                "seed {seed}: {:?}",
                world.peers[i].events
            );
            flush(&mut world, i);
        }
        publish_numbered(&mut world, publisher, "t.x", 0..100);
        world.run_until(Duration::from_secs(60), |w| {
            subs.iter()
                .zip(&sids)
                .all(|(&i, &sid)| messages_of(&w.peers[i].events, sid).len() == 100)
        });
        for (&i, &sid) in subs.iter().zip(&sids) {
            let got = numbers(&messages_of(&world.peers[i].events, sid));
            assert_eq!(got, (0..100).collect::<Vec<_>>(), "seed {seed}");
        }
    }
}

#[test]
fn publishes_made_while_disconnected_are_sent_after_the_reconnect() {
    for seed in seeds(20) {
        let mut world = World::new(seed, LinkConfig::lossy(1), quick_server());
        let publisher = world.add_client(quick_client("pub"));
        let subscriber = world.add_client(quick_client("sub"));
        let sid = world.peers[subscriber]
            .client
            .subscribe("buf", None)
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(publisher)
                && w.peers[subscriber]
                    .events
                    .contains(&ClientEvent::Subscribed(sid))
        });
        let addr = world.peers[publisher].addr;
        world.net.partition(addr, SERVER);
        world.run_until(Duration::from_secs(30), |w| {
            !w.peers[publisher].client.is_connected()
        });
        publish_numbered(&mut world, publisher, "buf", 0..50);
        world.net.heal(addr, SERVER);
        world.run_until(Duration::from_secs(60), |w| {
            messages_of(&w.peers[subscriber].events, sid).len() == 50
        });
        let got = numbers(&messages_of(&world.peers[subscriber].events, sid));
        assert_eq!(got, (0..50).collect::<Vec<_>>(), "seed {seed}");
    }
}

#[test]
fn a_subscriber_that_never_reads_is_bounded_and_does_not_slow_the_others() {
    const QUEUE: usize = 64;
    const N: u32 = 3000;
    for seed in seeds(3) {
        let mut config = quick_server();
        config.dead_after = Duration::from_secs(120);
        config.subscription_queue = QueueLimits {
            max_messages: QUEUE,
            max_bytes: 1 << 20,
        };
        let mut world = World::new(seed, LinkConfig::lossy(1), config);
        let publisher = world.add_client(quick_client("pub"));
        let fast = world.add_client(quick_client("fast"));
        let mut stuck_config = quick_client("stuck");
        stuck_config.dead_after = Duration::from_secs(120);
        let stuck = world.add_client(stuck_config);
        let sid_fast = world.peers[fast].client.subscribe("v", None).unwrap();
        let options = SubscribeOptions::default().with_policy(OverflowPolicy::DropOldest);
        let sid_stuck = world.peers[stuck]
            .client
            .subscribe_with("v", &options)
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(publisher)
                && w.peers[fast]
                    .events
                    .contains(&ClientEvent::Subscribed(sid_fast))
                && w.peers[stuck]
                    .events
                    .contains(&ClientEvent::Subscribed(sid_stuck))
        });

        // The stuck subscriber's host stops taking anything from the network.
        let stuck_addr = world.peers[stuck].addr;
        world.net.partition(stuck_addr, SERVER);
        let payload = vec![7u8; 1000];
        for n in 0..N {
            let mut body = n.to_be_bytes().to_vec();
            body.extend_from_slice(&payload);
            world.peers[publisher]
                .client
                .publish("v", None, None, &body)
                .expect("the publisher is never refused");
            if n % 100 == 99 {
                world.drain();
                world.run_for(Duration::from_millis(20));
                let subs = world
                    .server
                    .subscriptions_of("stuck")
                    .expect("still connected");
                assert!(subs[0].stats.pending as usize <= QUEUE, "seed {seed}");
            }
        }
        world.drain();
        world.run_until(Duration::from_secs(60), |w| {
            messages_of(&w.peers[fast].events, sid_fast).len() == N as usize
        });
        let got = numbers(&messages_of(&world.peers[fast].events, sid_fast));
        assert_eq!(
            got,
            (0..N).collect::<Vec<_>>(),
            "seed {seed}: the fast one lost nothing"
        );
        let fast_subs = world.server.subscriptions_of("fast").expect("connected");
        assert_eq!(fast_subs[0].stats.dropped, 0, "seed {seed}");
        let stats = world.server.stats();
        assert!(stats.drops.slow_consumer > 0, "seed {seed}");
        assert!(
            world
                .server_events
                .iter()
                .any(|e| matches!(e, ServerEvent::SlowConsumer { name, .. } if name == "stuck")),
            "seed {seed}"
        );

        // Back on the network, drop-oldest has kept the newest messages: the last one arrives,
        // and what arrives is in order.
        world.net.heal(stuck_addr, SERVER);
        world.run_until(Duration::from_secs(60), |w| {
            numbers(&messages_of(&w.peers[stuck].events, sid_stuck)).last() == Some(&(N - 1))
        });
        let got = numbers(&messages_of(&world.peers[stuck].events, sid_stuck));
        assert!(got.windows(2).all(|w| w[0] < w[1]), "seed {seed}: in order");
        assert!(got.len() < N as usize, "seed {seed}: some were dropped");
        let subs = world
            .server
            .subscriptions_of("stuck")
            .expect("still connected");
        assert_eq!(
            subs[0].stats.delivered + subs[0].stats.dropped,
            u64::from(N),
            "seed {seed}: every message delivered or counted as dropped"
        );
    }
}

#[test]
fn ten_thousand_idle_sessions_wake_the_server_rarely() {
    const SESSIONS: usize = 10_000;
    let seed = seeds(1)[0];
    let mut world = World::new(seed, LinkConfig::perfect(), ServerConfig::default());
    for i in 0..SESSIONS {
        let mut config = ClientConfig::default();
        config.name = format!("idle-{i}");
        world.add_client(config);
    }
    world.run_until(Duration::from_secs(60), |w| {
        w.server.session_count() == SESSIONS
    });
    world.run_until(Duration::from_secs(60), |w| {
        w.server.sessions().iter().all(|s| !s.name.is_empty())
    });
    // Let the connect burst settle, then count wake-ups over T idle seconds.
    world.run_for(Duration::from_secs(30));
    let idle = Duration::from_secs(60);
    let before = world.server_wakeups;
    world.run_for(idle);
    let wakeups = world.server_wakeups - before;
    let ping = ServerConfig::default().ping_interval;
    let bound = (SESSIONS as u64 * idle.as_secs()) / ping.as_secs() + 100;
    assert!(
        wakeups <= bound,
        "seed {seed}: {wakeups} wake-ups in {idle:?} for {SESSIONS} idle sessions (bound {bound})"
    );
    assert_eq!(world.server.session_count(), SESSIONS);
}

/// A publisher and a subscriber on "d" over a lossy link, with 300 numbered messages published
/// and processed by the server (flushed). Returns the world, the subscriber and its sid.
fn three_hundred_processed(seed: u64) -> (World, usize, u32) {
    three_hundred_processed_by(seed, quick_server())
}

/// [`three_hundred_processed`] with a server configured by `config`.
fn three_hundred_processed_by(seed: u64, config: ServerConfig) -> (World, usize, u32) {
    let mut world = World::new(seed, LinkConfig::lossy(3), config);
    let publisher = world.add_client(quick_client("pub"));
    let subscriber = world.add_client(quick_client("sub"));
    let sid = world.peers[subscriber].client.subscribe("d", None).unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.connected(publisher)
            && w.peers[subscriber]
                .events
                .contains(&ClientEvent::Subscribed(sid))
    });
    publish_numbered(&mut world, publisher, "d", 0..300);
    flush(&mut world, publisher);
    (world, subscriber, sid)
}

/// [`three_hundred_processed`] with most of the messages still in the server's subscription
/// queue, outside the subscriber's KCP stream (a tiny watermark and send window).
fn three_hundred_waiting_on_the_server(seed: u64) -> (World, usize, u32) {
    let mut config = quick_server();
    config.low_watermark = Some(256);
    config.kcp.send_window = 4;
    let (world, subscriber, sid) = three_hundred_processed_by(seed, config);
    assert!(
        world.server.stats().pending_bytes > 0,
        "seed {seed}: messages wait in the server's queue"
    );
    (world, subscriber, sid)
}

/// Drains `client` and runs the world until it has closed.
fn drain_until_closed(world: &mut World, client: usize) {
    let now = world.now;
    world.peers[client]
        .client
        .drain(now, Duration::from_secs(30))
        .unwrap();
    world.drain();
    world.run_until(Duration::from_secs(60), |w| {
        w.peers[client].events.contains(&ClientEvent::Closed)
    });
}

#[test]
fn client_drain_delivers_everything_pending_before_it_closes() {
    for seed in seeds(20) {
        let (mut world, subscriber, sid) = three_hundred_processed(seed);
        drain_until_closed(&mut world, subscriber);
        let events = &world.peers[subscriber].events;
        let got = numbers(&messages_of(events, sid));
        assert_eq!(got, (0..300).collect::<Vec<_>>(), "seed {seed}");
        let closed_at = events
            .iter()
            .position(|e| *e == ClientEvent::Closed)
            .unwrap();
        assert_eq!(
            closed_at,
            events.len() - 1,
            "seed {seed}: Closed is the last event"
        );
    }
}

#[test]
fn client_drain_delivers_what_waits_in_the_servers_subscription_queue() {
    for seed in seeds(10) {
        let (mut world, subscriber, sid) = three_hundred_waiting_on_the_server(seed);
        drain_until_closed(&mut world, subscriber);
        let got = numbers(&messages_of(&world.peers[subscriber].events, sid));
        assert_eq!(got, (0..300).collect::<Vec<_>>(), "seed {seed}");
        assert_eq!(world.server.stats().drops.unsubscribed, 0, "seed {seed}");
    }
}

#[test]
fn pongs_wait_behind_queued_messages_up_to_the_bound_then_answer_at_once() {
    use kcpq_core::server::MAX_DEFERRED_PONGS;
    for seed in seeds(5) {
        let (mut world, subscriber, sid) = three_hundred_waiting_on_the_server(seed);
        let now = world.now;
        let flushes: Vec<_> = (0..=MAX_DEFERRED_PONGS)
            .map(|_| {
                world.peers[subscriber]
                    .client
                    .flush(now, Duration::from_secs(60))
                    .expect("flush")
            })
            .collect();
        world.drain();
        world.run_until(Duration::from_secs(60), |w| {
            let events = &w.peers[subscriber].events;
            flushes
                .iter()
                .all(|id| events.contains(&ClientEvent::Flushed(*id)))
        });

        let events = &world.peers[subscriber].events;
        let position = |wanted: &ClientEvent| events.iter().position(|e| e == wanted).unwrap();
        let last_message = events
            .iter()
            .rposition(|e| matches!(e, ClientEvent::Message(m) if m.sid == sid))
            .unwrap();
        assert_eq!(
            numbers(&messages_of(events, sid)),
            (0..300).collect::<Vec<_>>(),
            "seed {seed}"
        );
        // The PONGs within the bound waited for every message queued before them (the last one
        // may share the bound with a heartbeat PING the client had sent before the flushes)...
        for id in &flushes[..MAX_DEFERRED_PONGS - 1] {
            assert!(
                position(&ClientEvent::Flushed(*id)) > last_message,
                "seed {seed}: {id:?} overtook a queued message"
            );
        }
        // ...and the PING beyond the bound was answered at once, ahead of them.
        let beyond = position(&ClientEvent::Flushed(flushes[MAX_DEFERRED_PONGS]));
        assert!(
            beyond < last_message,
            "seed {seed}: the PING beyond the bound waited"
        );
    }
}

#[test]
fn server_drain_delivers_what_is_queued_then_closes_every_session() {
    for seed in seeds(20) {
        let (mut world, subscriber, sid) = three_hundred_processed(seed);
        let now = world.now;
        world.server.drain(now, Duration::from_secs(30));
        world.drain();
        world.run_until(Duration::from_secs(60), |w| w.server.is_shut_down());
        let got = numbers(&messages_of(&world.peers[subscriber].events, sid));
        assert_eq!(got, (0..300).collect::<Vec<_>>(), "seed {seed}");
        assert!(world.server_events.contains(&ServerEvent::ShutdownComplete));
        assert!(
            world.peers[subscriber]
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::Disconnected(CloseReason::PeerClosed(_))))
        );
    }
}

#[test]
fn the_owner_publishes_subscribes_and_requests_through_the_server() {
    use kcpq_core::client::RequestFailure;
    for seed in seeds(10) {
        let mut world = World::new(seed, LinkConfig::lossy(2), quick_server());
        let alice = world.add_client(quick_client("alice"));
        let bob = world.add_client(quick_client("bob"));
        let sid_a = world.peers[alice].client.subscribe("cmd.*", None).unwrap();
        let sid_b = world.peers[bob].client.subscribe("cmd.*", None).unwrap();
        let owner_sid = world.server.subscribe("svc.>", None).unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[alice]
                .events
                .contains(&ClientEvent::Subscribed(sid_a))
                && w.peers[bob]
                    .events
                    .contains(&ClientEvent::Subscribed(sid_b))
        });

        // To everyone on a subject, and to one client by name.
        world
            .server
            .publish("cmd.all", None, None, b"hello all")
            .unwrap();
        world
            .server
            .publish_to("bob", "cmd.one", None, None, b"hello bob")
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            messages_of(&w.peers[bob].events, sid_b).len() == 2
                && !messages_of(&w.peers[alice].events, sid_a).is_empty()
        });
        world.run_for(Duration::from_secs(2));
        assert_eq!(
            messages_of(&world.peers[alice].events, sid_a),
            vec![b"hello all".to_vec()]
        );
        assert!(
            world
                .server
                .publish_to("carol", "cmd.x", None, None, b"")
                .is_err()
        );

        // A client's request to a subject the owner serves.
        let now = world.now;
        let req = world.peers[alice]
            .client
            .request(now, "svc.time", None, b"now?", Duration::from_secs(20))
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.server_events
                .iter()
                .any(|e| matches!(e, ServerEvent::Message(m) if m.sid == owner_sid))
        });
        let reply = world
            .server_events
            .iter()
            .find_map(|e| match e {
                ServerEvent::Message(m) if m.sid == owner_sid => m.reply.clone(),
                _ => None,
            })
            .expect("a request carries a reply subject");
        world.server.publish(&reply, None, None, b"noon").unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[alice].events.iter().any(
                |e| matches!(e, ClientEvent::Reply(id, m) if *id == req && m.payload == b"noon"),
            )
        });

        // The owner's request to one client by name, answered by that client.
        let now = world.now;
        let id = world
            .server
            .request(
                now,
                Some("bob"),
                "cmd.status",
                None,
                b"?",
                Duration::from_secs(20),
            )
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[bob].events.iter().any(|e| {
                matches!(e, ClientEvent::Message(m) if m.subject == "cmd.status" && m.reply.is_some())
            })
        });
        let reply = world.peers[bob]
            .events
            .iter()
            .find_map(|e| match e {
                ClientEvent::Message(m) if m.subject == "cmd.status" => m.reply.clone(),
                _ => None,
            })
            .unwrap();
        world.peers[bob]
            .client
            .publish(&reply, None, None, b"ok")
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.server_events
                .iter()
                .any(|e| matches!(e, ServerEvent::Reply(r, m) if *r == id && m.payload == b"ok"))
        });
        assert!(
            !world.peers[alice]
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::Message(m) if m.subject == "cmd.status"))
        );

        // Nobody listens: no responders at once.
        let now = world.now;
        let id = world
            .server
            .request(now, None, "nobody.here", None, b"", Duration::from_secs(20))
            .unwrap();
        world.drain();
        assert!(world.server_events.contains(&ServerEvent::RequestFailed(
            id,
            RequestFailure::NoResponders
        )));
    }
}

#[test]
fn client_names_are_unique_but_the_same_client_may_replace_its_session() {
    let seed = seeds(1)[0];
    // The server refuses a second instance, and notices silence late; the client early.
    let mut config = quick_server();
    config.dead_after = Duration::from_secs(600);
    config.duplicate_names = kcpq_core::server::DuplicateNames::Refuse;
    let mut world = World::new(seed, LinkConfig::perfect(), config);
    let first = world.add_client(quick_client("cam-7"));
    world.run_until(Duration::from_secs(30), |w| w.connected(first));
    let impostor = world.add_client(quick_client("cam-7"));
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[impostor].client.is_closed()
    });
    assert!(world.peers[impostor].events.iter().any(|e| matches!(
        e,
        ClientEvent::ServerError(err) if err.code == kcpq_core::proto::ErrorCode::DuplicateName
    )));
    assert_eq!(world.server.session_count(), 1);

    // The same client, cut off long enough to give up its session but not long enough for the
    // server to notice, reconnects and replaces its old session.
    let addr = world.peers[first].addr;
    world.net.partition(addr, SERVER);
    world.run_until(Duration::from_secs(60), |w| {
        w.peers[first]
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Disconnected(_)))
    });
    world.net.heal(addr, SERVER);
    world.run_until(Duration::from_secs(60), |w| {
        reconnected(&w.peers[first].events) == 1
    });
    assert_eq!(world.server.session_count(), 1);
    assert!(world.server_events.iter().any(|e| matches!(
        e,
        ServerEvent::SessionClosed { name, reason: CloseReason::Replaced, .. } if name == "cam-7"
    )));
}

#[test]
fn the_owner_publishing_to_one_client_reaches_its_queue_member_every_time() {
    for seed in seeds(10) {
        let mut world = World::new(seed, LinkConfig::lossy(2), quick_server());
        let alice = world.add_client(quick_client("alice"));
        let bob = world.add_client(quick_client("bob"));
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(alice) && w.connected(bob)
        });
        let sids: Vec<u32> = [alice, bob]
            .iter()
            .map(|&c| world.peers[c].client.subscribe("cmd.*", Some("w")).unwrap())
            .collect();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            [alice, bob]
                .iter()
                .zip(&sids)
                .all(|(&c, sid)| w.peers[c].events.contains(&ClientEvent::Subscribed(*sid)))
        });
        // The group's turn would alternate between alice and bob; a publish for bob only must
        // choose among bob's members, not be lost when the turn is alice's.
        for n in 0..20u8 {
            world
                .server
                .publish_to("bob", "cmd.x", None, None, &[n])
                .unwrap();
        }
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            messages_of(&w.peers[bob].events, sids[1]).len() == 20
        });
        world.run_for(Duration::from_secs(1));
        assert!(messages_of(&world.peers[alice].events, sids[0]).is_empty());
    }
}
