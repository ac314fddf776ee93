//! The owner's API over a server of several workers: `Server::publish_to` and
//! `Server::request` to one client by name reach it whichever worker holds its session.

mod sim;

use std::time::Duration;

use kcpq_core::client::{ClientConfig, ClientEvent};
use kcpq_core::server::{ServerConfig, ServerEvent};
use sim::net::LinkConfig;
use sim::world::World;
use sim::{messages_of, seeds};

fn named(name: &str) -> ClientConfig {
    let mut config = ClientConfig::default();
    config.name = name.to_owned();
    config
}

#[test]
fn the_owner_reaches_a_client_by_name_on_any_worker() {
    for workers in [1, 2, 4] {
        for seed in seeds(10) {
            let mut world =
                World::with_workers(seed, LinkConfig::lossy(2), ServerConfig::default(), workers);
            // Ports 10000.. spread the clients over every worker.
            let clients: Vec<usize> = (0..4)
                .map(|i| world.add_client(named(&format!("dev{i}"))))
                .collect();
            world.run_until(Duration::from_secs(30), |w| {
                clients.iter().all(|&c| w.connected(c))
            });
            let sids: Vec<u32> = clients
                .iter()
                .map(|&c| world.peers[c].client.subscribe("cmd", None).unwrap())
                .collect();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                clients
                    .iter()
                    .zip(&sids)
                    .all(|(&c, &sid)| w.peers[c].events.contains(&ClientEvent::Subscribed(sid)))
            });
            let target = clients.len() - 1;
            world
                .server
                .publish_to("dev3", "cmd", None, None, b"only you")
                .expect("dev3 is connected, on some worker");
            let id = world
                .server
                .request(
                    world.now,
                    Some("dev3"),
                    "cmd",
                    None,
                    b"status?",
                    Duration::from_secs(20),
                )
                .expect("a request to dev3");
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                messages_of(&w.peers[clients[target]].events, sids[target]).len() >= 2
            });
            let reply = world.peers[clients[target]]
                .events
                .iter()
                .find_map(|e| match e {
                    ClientEvent::Message(m) if m.payload == b"status?" => m.reply.clone(),
                    _ => None,
                })
                .expect("the request has a reply subject");
            world.peers[clients[target]]
                .client
                .publish(&reply, None, None, b"ok")
                .unwrap();
            world.drain();
            world.run_until(Duration::from_secs(30), |w| {
                w.server_events.iter().any(
                    |e| matches!(e, ServerEvent::Reply(r, m) if *r == id && m.payload == b"ok"),
                )
            });
            world.run_for(Duration::from_secs(1));
            for (&c, &sid) in clients.iter().zip(&sids).take(target) {
                assert!(
                    messages_of(&world.peers[c].events, sid).is_empty(),
                    "workers {workers} seed {seed}: another client got dev3's messages"
                );
            }
            assert!(
                world
                    .server
                    .publish_to("nobody", "cmd", None, None, b"x")
                    .is_err()
            );
        }
    }
}
