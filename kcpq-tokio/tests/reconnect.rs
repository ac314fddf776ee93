//! A server stopped and started again on the same port: clients reconnect by themselves and
//! their subscriptions deliver again.

mod common;

use std::time::Duration;

use common::{bounded, client, keys};
use futures_lite::StreamExt;
use kcpq_tokio::core::server::ServerConfig;
use kcpq_tokio::{Client, Event, Server};

#[test]
fn clients_reconnect_and_resubscribe_after_a_server_restart() {
    bounded(Duration::from_secs(30), async {
        let first = Server::bind(([127, 0, 0, 1], 0).into(), keys(), ServerConfig::default())
            .await
            .expect("bind")
            .spawn();
        let addr = first.local_addr();
        let mut options = common::options(addr);
        options.config.name = "restart-subscriber".to_owned();
        let subscriber = Client::connect_with(options).await.expect("connect");
        let mut events = subscriber.events();
        let mut sub = subscriber.subscribe("restart.>").await.expect("subscribe");

        first.shutdown("restart").await;
        let event = events.next().await.expect("events");
        assert!(matches!(event, Event::Disconnected(_)), "{event:?}");

        let second = Server::bind(addr, keys(), ServerConfig::default())
            .await
            .expect("bind the same port again")
            .spawn();
        loop {
            match events.next().await.expect("events") {
                Event::Reconnected { .. } => break,
                Event::Disconnected(_) => {}
                other => panic!("unexpected event {other:?}"),
            }
        }
        subscriber.flush().await.expect("flush");
        let publisher = client(second.local_addr()).await;
        publisher
            .publish("restart.after", "again")
            .await
            .expect("publish");
        let message = sub.next().await.expect("the subscription delivers again");
        assert_eq!(message.subject, "restart.after");
    });
}
