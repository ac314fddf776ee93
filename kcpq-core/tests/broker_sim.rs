//! The broker in the simulator: a server and many clients over a lossy, reordering, duplicating
//! network, seeded and reproducible (`KCPQ_SEED=n` runs one seed).

mod sim;

use std::time::Duration;

use kcpq_core::client::{ClientConfig, ClientEvent};
use kcpq_core::server::ServerConfig;
use sim::net::LinkConfig;
use sim::world::World;

fn seeds(default_count: u64) -> Vec<u64> {
    match std::env::var("KCPQ_SEED") {
        Ok(s) => vec![s.parse().expect("KCPQ_SEED is a number")],
        Err(_) => (0..default_count).collect(),
    }
}

fn messages_of(events: &[ClientEvent], sid: u32) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            ClientEvent::Message(m) if m.sid == sid => Some(m.payload.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn pub_sub_delivers_exactly_once_in_order_over_a_lossy_network() {
    for seed in seeds(20) {
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
