//! The broker in the simulator: a server and many clients over a lossy, reordering, duplicating
//! network, seeded and reproducible (`KCPQ_SEED=n` runs one seed).

mod sim;

use std::time::Duration;

use kcpq_core::client::{ClientConfig, ClientEvent};
use kcpq_core::server::ServerConfig;
use sim::net::LinkConfig;
use sim::world::World;
use sim::{messages_of, seeds};

#[test]
fn pub_sub_delivers_exactly_once_in_order_over_a_lossy_network() {
    for seed in seeds(1000) {
        let mut world = World::new(seed, LinkConfig::lossy(10), ServerConfig::default());
        let publisher = world.add_client(ClientConfig::default());
        let subscriber = world.add_client(ClientConfig::default());
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(0) && w.connected(1)
        });
        let sid = world.peers[subscriber]
            .client
            .subscribe("orders.>", None)
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[subscriber]
                .events
                .contains(&ClientEvent::Subscribed(sid))
        });
        for i in 0..200u32 {
            let subject = if i % 2 == 0 {
                "orders.new"
            } else {
                "orders.eu.paid"
            };
            world.peers[publisher]
                .client
                .publish(subject, None, None, &i.to_le_bytes())
                .unwrap();
            world.peers[publisher]
                .client
                .publish("other", None, None, b"x")
                .unwrap();
            if i % 7 == 0 {
                world.drain();
                world.run_for(Duration::from_millis(3));
            }
        }
        world.drain();
        world.run_until(Duration::from_secs(60), |w| {
            messages_of(&w.peers[subscriber].events, sid).len() >= 200
        });
        let got = messages_of(&world.peers[subscriber].events, sid);
        let expected: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_le_bytes().to_vec()).collect();
        assert_eq!(got, expected, "seed {seed}");
    }
}

#[test]
fn wildcards_and_queue_groups_match_a_model_of_the_subscription_set() {
    use kcpq_core::subject::filter_matches;
    const FILTERS: [&str; 6] = ["a.b", "a.*", "a.>", "*.b", ">", "c.*"];
    const SUBJECTS: [&str; 5] = ["a.b", "a.c", "a.b.c", "c.b", "b"];
    for seed in seeds(200) {
        let mut world = World::new(seed, LinkConfig::lossy(5), ServerConfig::default());
        let publisher = world.add_client(ClientConfig::default());
        let mut subs = Vec::new(); // (peer, sid, filter, queue)
        for i in 0..6 {
            let peer = world.add_client(ClientConfig::default());
            // Each peer subscribes to two filters chosen from the seed; some in queue group
            // "q" or "r", so that one group name often spans several filters.
            for k in 0..2 {
                let filter = FILTERS[((seed as usize) + i * 3 + k * 5) % FILTERS.len()];
                let queue = match (i % 3, k) {
                    (0, 0) | (1, 1) => Some("q"),
                    (2, 0) => Some("r"),
                    _ => None,
                };
                subs.push((peer, 0, filter, queue));
            }
        }
        world.run_until(Duration::from_secs(30), |w| {
            (0..w.peers.len()).all(|i| w.connected(i))
        });
        for s in &mut subs {
            s.1 = world.peers[s.0].client.subscribe(s.2, s.3).unwrap();
        }
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            subs.iter()
                .all(|s| w.peers[s.0].events.contains(&ClientEvent::Subscribed(s.1)))
        });
        for (n, subject) in SUBJECTS.iter().enumerate() {
            world.peers[publisher]
                .client
                .publish(subject, None, None, &[n as u8])
                .unwrap();
        }
        world.drain();
        let fl = world.peers[publisher]
            .client
            .flush(world.now, Duration::from_secs(30))
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[publisher]
                .events
                .contains(&ClientEvent::Flushed(fl))
        });
        // Everything the server routed is now in flight: let it arrive.
        world.run_for(Duration::from_secs(5));
        for (n, subject) in SUBJECTS.iter().enumerate() {
            let receivers = |(peer, sid, _, _): &(usize, u32, &str, Option<&str>)| {
                messages_of(&world.peers[*peer].events, *sid)
                    .iter()
                    .filter(|p| p[..] == [n as u8])
                    .count()
            };
            // As in NATS, a queue group is its name: a group delivers exactly once when any of
            // its members' filters matches, whichever filters they used.
            let mut groups: std::collections::BTreeMap<&str, (bool, usize)> = Default::default();
            for s in &subs {
                let matches = filter_matches(s.2, subject);
                let got = receivers(s);
                if let Some(name) = s.3 {
                    let group = groups.entry(name).or_default();
                    group.0 |= matches;
                    group.1 += got;
                } else {
                    assert_eq!(
                        got,
                        usize::from(matches),
                        "seed {seed}: {subject} to {}",
                        s.2
                    );
                }
            }
            for (name, (matches, got)) in groups {
                assert_eq!(
                    got,
                    usize::from(matches),
                    "seed {seed}: {subject} to queue group {name}"
                );
            }
        }
    }
}

#[test]
fn requests_get_a_reply_or_no_responders_never_a_hang() {
    use kcpq_core::client::RequestFailure;
    for seed in seeds(200) {
        let mut world = World::new(seed, LinkConfig::lossy(10), ServerConfig::default());
        let requester = world.add_client(ClientConfig::default());
        let responder = world.add_client(ClientConfig::default());
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(0) && w.connected(1)
        });
        let sid = world.peers[responder]
            .client
            .subscribe("svc.echo", Some("workers"))
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[responder]
                .events
                .contains(&ClientEvent::Subscribed(sid))
        });
        let now = world.now;
        let answered = world.peers[requester]
            .client
            .request(now, "svc.echo", None, b"ping", Duration::from_secs(20))
            .unwrap();
        let nobody = world.peers[requester]
            .client
            .request(now, "svc.none", None, b"?", Duration::from_secs(20))
            .unwrap();
        world.drain();
        let mut replied = false;
        let mut outcome = None;
        let mut failed = None;
        let limit = world.now + Duration::from_secs(30);
        while outcome.is_none() || failed.is_none() {
            assert!(world.step(limit), "seed {seed}: requests hang");
            // The responder echoes every request it sees.
            let pending: Vec<_> = world.peers[responder].events.drain(..).collect();
            for e in pending {
                if let ClientEvent::Message(m) = e {
                    let reply = m.reply.expect("requests carry a reply subject");
                    world.peers[responder]
                        .client
                        .publish(&reply, None, None, &m.payload)
                        .unwrap();
                    replied = true;
                }
            }
            world.drain();
            for e in &world.peers[requester].events {
                match e {
                    ClientEvent::Reply(id, m) if *id == answered => {
                        outcome = Some(m.payload.clone())
                    }
                    ClientEvent::RequestFailed(id, why) if *id == nobody => {
                        failed = Some(why.clone())
                    }
                    ClientEvent::RequestFailed(id, why) if *id == answered => {
                        panic!("seed {seed}: {why}")
                    }
                    _ => {}
                }
            }
        }
        assert!(replied);
        assert_eq!(outcome.as_deref(), Some(&b"ping"[..]), "seed {seed}");
        assert_eq!(failed, Some(RequestFailure::NoResponders), "seed {seed}");
        // A request whose responder never answers times out (virtual time, no waiting).
        world.peers[responder]
            .client
            .unsubscribe(sid, None)
            .unwrap();
        world.drain();
        let silent = world.peers[requester]
            .client
            .subscribe("svc.silent", None)
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[requester]
                .events
                .contains(&ClientEvent::Subscribed(silent))
        });
        let now = world.now;
        let timed = world.peers[requester]
            .client
            .request(now, "svc.silent", None, b"", Duration::from_secs(2))
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(5), |w| {
            w.peers[requester]
                .events
                .contains(&ClientEvent::RequestFailed(timed, RequestFailure::TimedOut))
        });
    }
}

#[test]
fn a_wrong_key_fails_the_connect_and_leaves_the_server_without_state() {
    use kcpq_core::crypto::{Key, KeySet};
    for seed in seeds(100) {
        let mut world = World::new(seed, LinkConfig::lossy(5), ServerConfig::default());
        let good = world.add_client(ClientConfig::default());
        let wrong = KeySet::single(Key::from_bytes([7; 32]));
        let bad = world.add_client_with_keys(ClientConfig::default(), &wrong);
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[bad]
                .events
                .iter()
                .any(|e| matches!(e, ClientEvent::ConnectFailed(_)))
        });
        let failure = world.peers[bad].events.iter().find_map(|e| match e {
            ClientEvent::ConnectFailed(err) => Some(err.to_string()),
            _ => None,
        });
        assert!(
            failure.unwrap().contains("key mismatch or no KCPQ server"),
            "seed {seed}"
        );
        assert!(world.connected(good));
        assert_eq!(
            world.server.session_count(),
            1,
            "seed {seed}: only the good client has a session"
        );
        assert_eq!(world.server.half_open_count(), 0, "seed {seed}");
    }
}

#[test]
fn auto_unsubscribe_stats_and_session_list() {
    let seed = seeds(1)[0];
    let mut world = World::new(seed, LinkConfig::lossy(5), ServerConfig::default());
    let mut config = ClientConfig::default();
    config.name = "cam-1".to_owned();
    let sub_peer = world.add_client(config);
    let pub_peer = world.add_client(ClientConfig::default());
    world.run_until(Duration::from_secs(30), |w| {
        w.connected(0) && w.connected(1)
    });
    let sid = world.peers[sub_peer]
        .client
        .subscribe("frames", None)
        .unwrap();
    world.peers[sub_peer]
        .client
        .unsubscribe(sid, Some(3))
        .unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[sub_peer]
            .events
            .contains(&ClientEvent::Subscribed(sid))
    });
    let subs = world
        .server
        .subscriptions_of("cam-1")
        .expect("cam-1 is connected");
    assert_eq!(subs.len(), 1);
    assert_eq!(
        (subs[0].filter.as_str(), subs[0].remaining),
        ("frames", Some(3))
    );
    for i in 0..5u8 {
        world.peers[pub_peer]
            .client
            .publish("frames", None, None, &[i])
            .unwrap();
    }
    world.drain();
    let fl = world.peers[pub_peer]
        .client
        .flush(world.now, Duration::from_secs(30))
        .unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[pub_peer].events.contains(&ClientEvent::Flushed(fl))
    });
    world.run_for(Duration::from_secs(2));
    assert_eq!(
        messages_of(&world.peers[sub_peer].events, sid),
        [vec![0], vec![1], vec![2]]
    );
    assert_eq!(
        world.server.subscriptions_of("cam-1"),
        Some(vec![]),
        "removed after 3 messages"
    );
    let stats = world.server.stats();
    assert_eq!(
        (stats.msgs_in, stats.msgs_out, stats.subscriptions),
        (5, 3, 0)
    );
    let sessions = world.server.sessions();
    assert_eq!(sessions.len(), 2);
    assert!(
        sessions
            .iter()
            .any(|s| s.name == "cam-1" && s.addr == world.peers[sub_peer].addr)
    );
    assert!(
        sessions
            .iter()
            .all(|s| s.rtt > Duration::ZERO && s.last_heard > s.connected_since)
    );
    // Everything was acknowledged by now: nothing in flight, waiting or queued, and the
    // counters saw the MSG frames leave and their ACKs come back.
    let sub_session = sessions.iter().find(|s| s.name == "cam-1").unwrap();
    let t = &sub_session.transport;
    assert_eq!(
        (t.in_flight_segments, t.unsent_bytes, t.queued_msgs),
        (0, 0, 0)
    );
    assert!(t.remote_window > 0 && t.rto >= Duration::from_millis(1));
    assert!(t.kcp.data_segments_out >= 1, "the 3 MSG frames were sent");
    assert!(t.kcp.acks_in >= 1, "and acknowledged");
}

#[test]
fn clean_close_from_either_side() {
    use kcpq_core::CloseReason;
    use kcpq_core::server::ServerEvent;
    for seed in seeds(50) {
        let mut world = World::new(seed, LinkConfig::lossy(5), ServerConfig::default());
        let leaving = world.add_client(ClientConfig::default());
        let staying = world.add_client(ClientConfig::default());
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(0) && w.connected(1)
        });
        let now = world.now;
        world.peers[leaving].client.close(now);
        world.drain();
        world.run_until(Duration::from_secs(5), |w| {
            w.peers[leaving].client.is_closed()
        });
        assert!(
            world.peers[leaving]
                .events
                .contains(&ClientEvent::Disconnected(CloseReason::Local)),
            "seed {seed}"
        );
        world.run_until(Duration::from_secs(30), |w| w.server.session_count() == 1);
        assert!(world.server_events.iter().any(|e| matches!(
            e,
            ServerEvent::SessionClosed {
                reason: CloseReason::PeerClosed(_),
                ..
            }
        )));
        world.server.shutdown(world.now, "maintenance");
        world.drain();
        // The staying client is told why, and (reconnecting by itself) is not closed; the
        // server finishes its shutdown with no session left.
        world.run_until(Duration::from_secs(30), |w| {
            w.server.is_shut_down()
                && w.peers[staying].events.iter().any(|e| {
                    matches!(e, ClientEvent::Disconnected(CloseReason::PeerClosed(r)) if r == "maintenance")
                })
        });
        assert!(!world.peers[staying].client.is_closed(), "seed {seed}");
        assert!(world.server_events.contains(&ServerEvent::ShutdownComplete));
    }
}

#[test]
fn limits_are_refused_with_a_clear_error() {
    use kcpq_core::client::PublishError;
    use kcpq_core::proto::ErrorCode;
    let seed = seeds(1)[0];
    let mut config = ServerConfig::default();
    config.max_subscriptions_per_session = 2;
    config.max_payload = 1000;
    config.max_sessions = 2;
    // A perfect link: the refusal of a session over the limit rides one unrepeated datagram.
    let mut world = World::new(seed, LinkConfig::perfect(), config);
    let a = world.add_client(ClientConfig::default());
    let b = world.add_client(ClientConfig::default());
    world.run_until(Duration::from_secs(30), |w| {
        w.connected(0) && w.connected(1)
    });
    // The payload limit comes from INFO and is checked before sending.
    assert_eq!(world.peers[a].client.max_payload(), 1000);
    assert_eq!(
        world.peers[a].client.publish("x", None, None, &[0; 1001]),
        Err(PublishError::PayloadTooLarge {
            size: 1001,
            max: 1000
        })
    );
    // The third subscription of a session is refused by the server.
    let sids: Vec<u32> = (0..3)
        .map(|i| {
            world.peers[a]
                .client
                .subscribe(&format!("s.{i}"), None)
                .unwrap()
        })
        .collect();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[a]
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::SubscribeFailed(..)))
    });
    let refused = world.peers[a].events.iter().find_map(|e| match e {
        ClientEvent::SubscribeFailed(sid, err) => Some((*sid, err.clone())),
        _ => None,
    });
    let (sid, err) = refused.unwrap();
    assert_eq!(sid, sids[2]);
    assert_eq!(err.code, ErrorCode::TooManySubscriptions);
    assert!(
        err.message.contains("at most 2 subscriptions"),
        "{}",
        err.message
    );
    // A third session is over the server's limit: the client hears why and the server keeps
    // no state for it.
    let c = world.add_client(ClientConfig::default());
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[c]
            .events
            .iter()
            .any(|e| matches!(e, ClientEvent::Disconnected(_)))
    });
    assert!(world.peers[c].events.iter().any(|e| matches!(
        e,
        ClientEvent::ServerError(err) if err.code == ErrorCode::TooManySessions
    )));
    assert_eq!(world.server.session_count(), 2);
    assert!(world.connected(b));
    assert_eq!(world.server.stats().drops.session_limit, 1);
}

#[test]
fn a_client_that_does_not_read_keeps_a_bounded_queue_and_reports_it() {
    let seed = seeds(1)[0];
    let mut world = World::new(seed, LinkConfig::lossy(5), ServerConfig::default());
    let mut config = ClientConfig::default();
    config.subscription_limits.max_messages = 10;
    let slow = world.add_client(config);
    let publisher = world.add_client(ClientConfig::default());
    world.run_until(Duration::from_secs(30), |w| {
        w.connected(0) && w.connected(1)
    });
    let sid = world.peers[slow].client.subscribe("feed", None).unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[slow].events.contains(&ClientEvent::Subscribed(sid))
    });
    world.peers[slow].not_reading = true;
    for i in 0..50u8 {
        world.peers[publisher]
            .client
            .publish("feed", None, None, &[i])
            .unwrap();
    }
    world.drain();
    world.run_for(Duration::from_secs(5));
    assert_eq!(world.peers[slow].client.stats().dropped_slow_consumer, 40);
    world.peers[slow].not_reading = false;
    world.drain();
    let got = messages_of(&world.peers[slow].events, sid);
    assert_eq!(
        got,
        (0..10u8).map(|i| vec![i]).collect::<Vec<_>>(),
        "the oldest ten are kept"
    );
    let reports = world.peers[slow]
        .events
        .iter()
        .filter(|e| **e == ClientEvent::SlowConsumer { sid })
        .count();
    assert_eq!(reports, 1, "one report per burst");
}

/// Publishes `payloads` from `publisher` on "frames" and waits until the server has routed them
/// all to `subscriber` and they arrived (a flush of the publisher, then two seconds).
fn publish_frames(world: &mut World, publisher: usize, payloads: std::ops::Range<u8>) {
    for i in payloads {
        world.peers[publisher]
            .client
            .publish("frames", None, None, &[i])
            .unwrap();
    }
    world.drain();
    let fl = world.peers[publisher]
        .client
        .flush(world.now, Duration::from_secs(30))
        .unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[publisher]
            .events
            .contains(&ClientEvent::Flushed(fl))
    });
    world.run_for(Duration::from_secs(2));
}

#[test]
fn unsubscribe_after_counts_every_message_since_the_subscription_started() {
    let seed = seeds(1)[0];
    let mut world = World::new(seed, LinkConfig::lossy(5), ServerConfig::default());
    let mut config = ClientConfig::default();
    config.name = "cam-1".to_owned();
    let sub_peer = world.add_client(config);
    let pub_peer = world.add_client(ClientConfig::default());
    world.run_until(Duration::from_secs(30), |w| {
        w.connected(0) && w.connected(1)
    });
    let later = world.peers[sub_peer]
        .client
        .subscribe("frames", None)
        .unwrap();
    let reached = world.peers[sub_peer]
        .client
        .subscribe("frames", None)
        .unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        let events = &w.peers[sub_peer].events;
        events.contains(&ClientEvent::Subscribed(later))
            && events.contains(&ClientEvent::Subscribed(reached))
    });
    publish_frames(&mut world, pub_peer, 0..2);
    // Two arrived on each: 3 in total leaves one for `later`; 1 in total is already over for
    // `reached`, which ends at once and keeps what it has.
    let client = &mut world.peers[sub_peer].client;
    client.unsubscribe(later, Some(3)).unwrap();
    client.unsubscribe(reached, Some(1)).unwrap();
    world.drain();
    world.run_for(Duration::from_secs(2));
    let remaining: Vec<_> = (world.server.subscriptions_of("cam-1").unwrap())
        .iter()
        .map(|s| s.remaining)
        .collect();
    assert_eq!(remaining, [Some(1)], "the server was told what is left");
    publish_frames(&mut world, pub_peer, 2..5);
    let events = &world.peers[sub_peer].events;
    assert_eq!(messages_of(events, later), [vec![0], vec![1], vec![2]]);
    assert_eq!(messages_of(events, reached), [vec![0], vec![1]]);
    assert!(events.contains(&ClientEvent::Unsubscribed(later)));
    assert!(events.contains(&ClientEvent::Unsubscribed(reached)));
    assert_eq!(world.server.subscriptions_of("cam-1"), Some(vec![]));
}

#[test]
fn wire_bytes_count_every_datagram_on_both_sides() {
    for seed in seeds(10) {
        let mut world = World::new(seed, LinkConfig::lossy(5), ServerConfig::default());
        let publisher = world.add_client(ClientConfig::default());
        let subscriber = world.add_client(ClientConfig::default());
        world.run_until(Duration::from_secs(30), |w| {
            w.connected(publisher) && w.connected(subscriber)
        });
        let sid = world.peers[subscriber]
            .client
            .subscribe("w.b", None)
            .unwrap();
        world.drain();
        world.run_until(Duration::from_secs(30), |w| {
            w.peers[subscriber]
                .events
                .contains(&ClientEvent::Subscribed(sid))
        });
        for n in 0..200u32 {
            world.peers[publisher]
                .client
                .publish("w.b", None, None, &n.to_be_bytes().repeat(64))
                .unwrap();
        }
        world.drain();
        world.run_until(Duration::from_secs(60), |w| {
            messages_of(&w.peers[subscriber].events, sid).len() == 200
        });
        let stats = world.server.stats();
        assert_eq!(
            (stats.wire_bytes_in, stats.wire_bytes_out),
            world.server_wire_bytes,
            "seed {seed}: the server counts exactly the bytes it received and sent"
        );
        // Payload is 256 B a message; on the wire each datagram adds headers, protection, ACKs
        // and the retransmissions a 5 % loss link needs, so more bytes, but within reason.
        assert!(stats.wire_bytes_out > stats.bytes_out, "seed {seed}");
        assert!(
            stats.wire_bytes_out < 3 * stats.bytes_out,
            "seed {seed}: {stats:?}"
        );
        let client = world.peers[publisher].client.stats();
        assert!(client.wire_bytes_out >= stats.bytes_in, "seed {seed}");
        assert!(client.wire_bytes_in > 0, "seed {seed}");
    }
}
