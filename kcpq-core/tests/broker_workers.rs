//! A server of several workers in the simulator: one subscription space over workers that each
//! own a share of the sessions. Every scenario runs with 1, 2 and 4 workers; clients' ports
//! spread them over the workers as SO_REUSEPORT would.

mod sim;

use std::time::Duration;

use kcpq_core::CloseReason;
use kcpq_core::client::{ClientConfig, ClientEvent};
use kcpq_core::message::RequestFailure;
use kcpq_core::proto::ErrorCode;
use kcpq_core::server::{ServerConfig, ServerEvent};
use sim::net::LinkConfig;
use sim::world::World;
use sim::{messages_of, seeds};

const WORKERS: [usize; 3] = [1, 2, 4];

fn named(name: &str) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.name = name.to_owned();
    config
}

fn connect_all(world: &mut World) {
    world.run_until(Duration::from_secs(30), |w| {
        (0..w.peers.len()).all(|i| w.connected(i))
    });
}

fn subscribe(world: &mut World, peer: usize, filter: &str, queue: Option<&str>) -> u32 {
    let sid = world.peers[peer].client.subscribe(filter, queue).unwrap();
    world.drain();
    world.run_until(Duration::from_secs(30), |w| {
        w.peers[peer].events.contains(&ClientEvent::Subscribed(sid))
    });
    sid
}

#[test]
fn a_publish_on_any_worker_reaches_every_matching_subscription_once_and_in_order() {
    for workers in WORKERS {
        for seed in seeds(20) {
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(5), ServerConfig::default(), workers);
            let publishers = [world.add_client(named("p0")), world.add_client(named("p1"))];
            let subscribers: Vec<usize> = (0..5)
                .map(|i| world.add_client(named(&format!("s{i}"))))
                .collect();
            connect_all(&mut world);
            let sids: Vec<u32> = subscribers
                .iter()
                .enumerate()
                .map(|(i, &peer)| {
                    let filter = if i % 2 == 0 { "feed.>" } else { "feed.*" };
                    subscribe(&mut world, peer, filter, None)
                })
                .collect();
            for i in 0..60u32 {
                let publisher = publishers[i as usize % 2];
                world.peers[publisher]
                    .client
                    .publish("feed.a", None, None, &i.to_le_bytes())
                    .unwrap();
                if i % 5 == 0 {
                    world.drain();
                    world.run_for(Duration::from_millis(2));
                }
            }
            world.drain();
            world.run_until(Duration::from_secs(60), |w| {
                subscribers
                    .iter()
                    .zip(&sids)
                    .all(|(&p, &sid)| messages_of(&w.peers[p].events, sid).len() >= 60)
            });
            world.run_for(Duration::from_secs(1));
            for (&peer, &sid) in subscribers.iter().zip(&sids) {
                let got = messages_of(&world.peers[peer].events, sid);
                assert_eq!(got.len(), 60, "workers {workers} seed {seed}: exactly once");
                // Each publisher's messages arrive in the order it sent them.
                for parity in 0..2u32 {
                    let mine: Vec<u32> = got
                        .iter()
                        .map(|b| u32::from_le_bytes(b[..4].try_into().unwrap()))
                        .filter(|n| n % 2 == parity)
                        .collect();
                    assert!(
                        mine.windows(2).all(|w| w[0] < w[1]),
                        "workers {workers} seed {seed}: order {mine:?}"
                    );
                }
            }
            if workers > 1 {
                assert!(world.cross_msgs > 0, "workers {workers}: nothing crossed");
                let spread = (0..workers)
                    .filter(|&w| world.worker(w).session_count() > 0)
                    .count();
                assert!(spread > 1, "workers {workers}: sessions all on one worker");
            }
        }
    }
}

#[test]
fn a_queue_group_over_workers_delivers_each_message_to_exactly_one_member() {
    for workers in WORKERS {
        for seed in seeds(10) {
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(3), ServerConfig::default(), workers);
            let publisher = world.add_client(named("pub"));
            let members: Vec<usize> = (0..6)
                .map(|i| world.add_client(named(&format!("m{i}"))))
                .collect();
            connect_all(&mut world);
            let sids: Vec<u32> = members
                .iter()
                .map(|&m| subscribe(&mut world, m, "jobs.*", Some("workers")))
                .collect();
            const N: u32 = 300;
            for i in 0..N {
                world.peers[publisher]
                    .client
                    .publish("jobs.x", None, None, &i.to_le_bytes())
                    .unwrap();
                if i % 10 == 0 {
                    world.drain();
                    world.run_for(Duration::from_millis(1));
                }
            }
            world.drain();
            let count = |w: &World| -> usize {
                members
                    .iter()
                    .zip(&sids)
                    .map(|(&m, &sid)| messages_of(&w.peers[m].events, sid).len())
                    .sum()
            };
            world.run_until(Duration::from_secs(60), |w| count(w) >= N as usize);
            world.run_for(Duration::from_secs(1));
            let mut all: Vec<u32> = members
                .iter()
                .zip(&sids)
                .flat_map(|(&m, &sid)| messages_of(&world.peers[m].events, sid))
                .map(|b| u32::from_le_bytes(b[..4].try_into().unwrap()))
                .collect();
            all.sort_unstable();
            assert_eq!(
                all,
                (0..N).collect::<Vec<_>>(),
                "workers {workers} seed {seed}"
            );
            let served = members
                .iter()
                .zip(&sids)
                .filter(|&(&m, &sid)| !messages_of(&world.peers[m].events, sid).is_empty())
                .count();
            assert!(
                served >= 4,
                "workers {workers} seed {seed}: {served} members served"
            );
        }
    }
}

#[test]
fn a_request_right_after_subscribing_finds_its_responder_on_another_worker() {
    for workers in WORKERS {
        for seed in seeds(20) {
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(2), ServerConfig::default(), workers);
            // Workers slower to hear each other than clients are to reach them: the OK must
            // still come only once every worker knows the subscription.
            world.cross_delay = Duration::from_millis(40);
            let requester = world.add_client(named("asker"));
            let responder = world.add_client(named("answerer"));
            connect_all(&mut world);
            let sid = subscribe(&mut world, responder, "svc.time", None);
            // At once, with no time for anything but the OK to have travelled.
            let id = world.peers[requester]
                .client
                .request(
                    world.now,
                    "svc.time",
                    None,
                    b"now?",
                    Duration::from_secs(20),
                )
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                !messages_of(&w.peers[responder].events, sid).is_empty()
                    || w.peers[requester]
                        .events
                        .iter()
                        .any(|e| matches!(e, ClientEvent::RequestFailed(r, _) if *r == id))
            });
            assert!(
                !world.peers[requester]
                    .events
                    .contains(&ClientEvent::RequestFailed(
                        id,
                        RequestFailure::NoResponders
                    )),
                "workers {workers} seed {seed}: a false no-responders"
            );
            let reply_to = world.peers[responder]
                .events
                .iter()
                .find_map(|e| match e {
                    ClientEvent::Message(m) if m.sid == sid => m.reply.clone(),
                    _ => None,
                })
                .expect("the request carries a reply subject");
            world.peers[responder]
                .client
                .publish(&reply_to, None, None, b"noon")
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                w.peers[requester].events.iter().any(
                    |e| matches!(e, ClientEvent::Reply(r, m) if *r == id && m.payload == b"noon"),
                )
            });
            // And with nobody listening, the answer is an immediate "no responders".
            let none = world.peers[requester]
                .client
                .request(world.now, "svc.nobody", None, b"?", Duration::from_secs(20))
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(5), |w| {
                w.peers[requester]
                    .events
                    .contains(&ClientEvent::RequestFailed(
                        none,
                        RequestFailure::NoResponders,
                    ))
            });
        }
    }
}

#[test]
fn a_name_is_unique_over_workers_and_taken_over_on_any_of_them() {
    for workers in WORKERS {
        for seed in seeds(10) {
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(2), ServerConfig::default(), workers);
            let old = world.add_client(named("svc"));
            world.run_until(Duration::from_secs(30), |w| w.connected(old));
            // Ports spread clients over workers: the next ones land on other workers.
            let filler = world.add_client(named("filler"));
            let new = world.add_client(named("svc"));
            world.run_until(Duration::from_secs(30), |w| {
                w.connected(new) && w.connected(filler) && w.peers[old].client.is_closed()
            });
            assert!(
                world.peers[old].events.iter().any(|e| matches!(
                    e,
                    ClientEvent::ServerError(err) if err.code == ErrorCode::Replaced
                )),
                "workers {workers} seed {seed}"
            );
            world.run_for(Duration::from_secs(30));
            let holders: usize = (0..workers)
                .map(|w| {
                    world
                        .worker(w)
                        .sessions()
                        .iter()
                        .filter(|s| s.name == "svc")
                        .count()
                })
                .sum();
            assert_eq!(holders, 1, "workers {workers} seed {seed}");
            assert_eq!(world.sum(|s| s.sessions_replaced), 1);
            assert!(world.server_events.iter().any(|e| matches!(
                e,
                ServerEvent::SessionClosed { name, reason: CloseReason::Replaced, .. } if name == "svc"
            )));
        }
    }
}

#[test]
fn a_client_whose_address_changes_keeps_its_session_whichever_worker_hears_it() {
    for workers in WORKERS {
        for seed in seeds(10) {
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(2), ServerConfig::default(), workers);
            let publisher = world.add_client(named("pub"));
            let roamer = world.add_client(named("roamer"));
            connect_all(&mut world);
            let sid = subscribe(&mut world, roamer, "roam", None);
            // A NAT rebinding: the next port hashes to the next worker.
            let port = world.peers[roamer].addr.port() + 1;
            world.rebind(roamer, port);
            world.peers[roamer]
                .client
                .publish("roam", None, None, b"self")
                .unwrap();
            world.peers[publisher]
                .client
                .publish("roam", None, None, b"other")
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                messages_of(&w.peers[roamer].events, sid).len() >= 2
            });
            assert_eq!(
                world.sum(|s| s.drops.unknown_session),
                0,
                "workers {workers}"
            );
            assert_eq!(world.sum(|s| s.sessions), 2);
            if workers > 1 {
                assert!(
                    world.sum(|s| s.datagrams_forwarded) > 0,
                    "workers {workers}"
                );
            }
        }
    }
}

#[test]
fn the_session_limit_holds_over_all_workers() {
    for workers in WORKERS {
        let mut config = ServerConfig::default();
        config.max_sessions = 5;
        let mut world = World::with_workers(7, LinkConfig::perfect(), config, workers);
        for i in 0..9 {
            world.add_client(named(&format!("c{i}")));
        }
        world.run_for(Duration::from_secs(3));
        let connected = (0..9).filter(|&i| world.connected(i)).count();
        assert_eq!(connected, 5, "workers {workers}");
        assert_eq!(world.sum(|s| s.sessions), 5, "workers {workers}");
        assert!(
            world.sum(|s| s.drops.session_limit) >= 4,
            "workers {workers}"
        );
    }
}
